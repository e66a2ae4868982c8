"""Command line: ``lightning predict -c CONFIG`` (also ``samg-video`` and ``python -m samg_video``)."""

from __future__ import annotations

import os
import sys
import warnings
from argparse import ArgumentError
from pathlib import Path
from typing import Any

from jsonargparse import ActionYesNo
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from samg_video.argument_errors import explain_argument_error
from samg_video.errors import ConfigurationError, ModelUnavailableError
from samg_video.resume import check_output_dir

RUN_CONFIG_NAME = "run_config.yaml"


class RunConfigSaver(SaveConfigCallback):
    """Saves the resolved config as ``<output_dir>/run_config.yaml``; never into the working directory
    and never over one of the input configs."""

    def save_config(self, trainer: Any, pl_module: Any, stage: str) -> None:
        target = Path(trainer.default_root_dir) / RUN_CONFIG_NAME
        inputs = {Path(str(p)).resolve() for p in (self.config.get("config") or [])}
        if target.resolve() in inputs:
            print(f"samg-video: not saving the run config over the input config {target}", file=sys.stderr)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        self.parser.save(self.config, str(target), skip_none=False, overwrite=True, multifile=False)


class SamgVideoCLI(LightningCLI):
    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_argument("--output_dir", type=str, default="outputs",
                            help="Where clips, metadata and the run's resolved config are written.")
        parser.add_argument("--overwrite", action=ActionYesNo, default=False,
                            help="Render again, and replace, clips already complete in --output_dir "
                                 "(by default a re-run renders only the clips that are not complete).")
        parser.link_arguments("output_dir", "trainer.default_root_dir")

    def before_instantiate_classes(self) -> None:
        # before the trainer, any process or anything is written
        check_output_dir(Path(self.config[self.subcommand]["output_dir"]))

    def before_predict(self) -> None:
        config = self.config[self.subcommand]
        for writer in self._writers():
            writer.overwrite = writer.overwrite or bool(config["overwrite"])

    def predict(self, model: Any, datamodule: Any = None, return_predictions: bool | None = None,
                **kwargs: Any) -> Any:
        # the callbacks take the clips batch by batch; Lightning would otherwise keep every clip's frames
        # in memory until the end of the run (unset means False here, not Lightning's True)
        return self.trainer.predict(model, datamodule=datamodule, return_predictions=bool(return_predictions),
                                    **kwargs)

    def after_predict(self) -> None:
        """Exit non-zero when any clip failed (every rank knows the total)."""
        from samg_video.writer import FAILURES_FILE

        for writer in self._writers():
            if writer.failed_clips:
                if self.trainer.is_global_zero:
                    attempted = len(writer.plan.to_render) if writer.plan is not None else "the"
                    print(f"samg-video: {writer.failed_clips} of {attempted} clips failed; see "
                          f"{writer.directory / FAILURES_FILE} (re-running the same command retries them)",
                          file=sys.stderr)
                sys.exit(1)

    def _writers(self) -> list[Any]:
        from samg_video.writer import ClipWriter

        return [callback for callback in self.trainer.callbacks if isinstance(callback, ClipWriter)]


def main(args: list[str] | None = None) -> None:
    # ranks left without clips (a resumed run) are expected, not a mistake to warn about
    warnings.filterwarnings("ignore", message=r".*(across ranks is zero|local rank has zero length).*")
    try:
        SamgVideoCLI(
            save_config_callback=RunConfigSaver,
            save_config_kwargs={"save_to_log_dir": False},
            # parse errors come back as exceptions, to be told in one line instead of usage plus a nested dump
            parser_kwargs={"exit_on_error": False, "predict": {"exit_on_error": False}},
            args=args,
        )
    except ArgumentError as error:
        if os.environ.get("SAMG_VIDEO_DEBUG"):
            raise
        print(f"samg-video: error: {explain_argument_error(str(error))}", file=sys.stderr)
        sys.exit(2)
    except Exception as error:
        user_error = find_user_error(error)
        if user_error is None or os.environ.get("SAMG_VIDEO_DEBUG"):
            raise
        print(f"samg-video: error: {user_error}", file=sys.stderr)
        sys.exit(2)


def find_user_error(error: BaseException) -> BaseException | None:
    """Our own error behind ``error``: jsonargparse re-raises errors from ``__init__`` as its own."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, (ConfigurationError, ModelUnavailableError)):
            return error
        if isinstance(error, ModuleNotFoundError) and str(error).startswith("Requirement"):
            # Lightning's loggers and callbacks name their missing optional package this way
            return ConfigurationError(f"a configured class needs a package that is not installed: {error} "
                                      "(TensorBoard and W&B: pip install -e \".[loggers]\")")
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


if __name__ == "__main__":
    main()
