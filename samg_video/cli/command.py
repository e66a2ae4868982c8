"""Command line: ``lightning predict -c CONFIG`` (also ``samg-video`` and ``python -m samg_video``).

Every run ends with one line saying what happened and where the outputs are, and an exit status:
0 done, 1 some clips failed or could not be read, 2 bad input (nothing was done), 3 the run stopped with
an error (a full disk, a broken setup), 130 interrupted by Ctrl-C, 143 stopped by SIGTERM (re-running the
same command resumes).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
import warnings
from argparse import ArgumentError
from pathlib import Path
from typing import Any

from jsonargparse import ActionYesNo
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from samg_video.cli.argument_errors import explain_argument_error
from samg_video.cli.console import configure_console, say
from samg_video.cli.help import FULL_HELP_FLAG, requested_help
from samg_video.errors import ConfigurationError, ModelUnavailableError, RunStopped, disk_full
from samg_video.files.media import atomic_path
from samg_video.files.records import locked
from samg_video.files.resume import check_output_dir
from samg_video.files.run_files import RUN_CONFIG_FILE
from samg_video.signals import received, signal_status, stop_on_sigterm, stopped_by

EXIT_DONE, EXIT_CLIPS_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 3
# Lightning's own subcommands that this package does not offer
NOT_OFFERED = ("fit", "validate", "test")
RETURN_PREDICTIONS_HELP = ("Keep every clip's frames in memory and return them from trainer.predict "
                           "(default: false: the callbacks take the clips batch by batch)")


class Interrupted(Exception):
    """Ctrl-C (SIGINT) or SIGTERM during the run; Lightning has already finished writing the clips in flight."""


class RunConfigSaver(SaveConfigCallback):
    """Saves the resolved config as ``<output_dir>/run_config.yaml``, atomically; never into the working
    directory and never over one of the input configs."""

    def save_config(self, trainer: Any, pl_module: Any, stage: str) -> None:
        target = Path(trainer.default_root_dir) / RUN_CONFIG_FILE
        inputs = {Path(str(p)).resolve() for p in (self.config.get("config") or [])}
        if target.resolve() in inputs:
            say(f"not saving the run config over the input config {target}")
            return
        text = self.parser.dump(self.config, skip_none=False)
        with locked(target), atomic_path(target) as temporary:  # shard jobs starting together
            temporary.write_text(text, encoding="utf-8")


class SamgVideoCLI(LightningCLI):
    @staticmethod
    def subcommands() -> dict[str, set[str]]:
        # rendering and scoring are predict loops; a checkpoint path means nothing here
        return {"predict": {"model", "dataloaders", "datamodule", "ckpt_path", "weights_only"}}

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> Any:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        for action in parser._actions:
            if action.dest == "return_predictions":  # Lightning's text states Lightning's default, not ours
                action.help, action.default = RETURN_PREDICTIONS_HELP, False
        return parser

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_argument("--output_dir", type=str, default="outputs",
                            help="Where clips, metadata and the run's resolved config are written.")
        parser.add_argument("--overwrite", action=ActionYesNo, default=False,
                            help="Render again, and replace, clips already complete in --output_dir "
                                 "(by default a re-run renders only the clips that are not complete); in an "
                                 "evaluation run, score again the clips already scored there.")
        parser.add_argument("--wait_for_others", action=ActionYesNo, default=False,
                            help="When other runs into the same --output_dir still render clips of this run's "
                                 "list, wait for them to finish (so that this run's summary covers every clip); "
                                 "by default the run ends, saying how many they still render.")
        parser.link_arguments("output_dir", "trainer.default_root_dir")

    def before_instantiate_classes(self) -> None:
        # before the trainer, any process or anything is written
        check_output_dir(self.config[self.subcommand]["output_dir"])

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        from lightning.fabric.utilities.exceptions import MisconfigurationException

        try:
            return super().instantiate_trainer(**kwargs)
        except (MisconfigurationException, ValueError, TypeError) as error:
            # Lightning checks devices, accelerator and strategy here, before anything runs or is written
            raise ConfigurationError(f"trainer: {str(error).strip()} (the Trainer's options: lightning predict "
                                     "--help-all)") from error

    def before_predict(self) -> None:
        from samg_video.callbacks import ClipMetrics, ClipWriter, StopOnSignal

        check_ranks = getattr(self.model, "check_ranks", None)
        if check_ranks is not None:  # before the writer makes the output folder
            check_ranks(self.trainer.world_size, self.trainer.strategy.root_device)
        if not self._callbacks(StopOnSignal):
            self.trainer.callbacks.append(StopOnSignal())
        config = self.config[self.subcommand]
        for writer in self._callbacks(ClipWriter):
            writer.overwrite = writer.overwrite or bool(config["overwrite"])
            writer.wait_for_others = writer.wait_for_others or bool(config["wait_for_others"])
        for metrics in self._callbacks(ClipMetrics):  # an evaluation run scores every clip again
            metrics.overwrite = metrics.overwrite or bool(config["overwrite"])

    def predict(self, model: Any, datamodule: Any = None, return_predictions: bool | None = None,
                **kwargs: Any) -> Any:
        try:
            # unset means False here, not Lightning's True: a thousand clips' frames would not fit in memory
            return self.trainer.predict(model, datamodule=datamodule, return_predictions=bool(return_predictions),
                                        **kwargs)
        except SystemExit:
            if self.trainer.interrupted:  # Lightning handles Ctrl-C itself, then exits with status 1
                raise Interrupted(self._written()) from None
            raise

    def after_predict(self) -> None:
        """The run's last line, and its exit status (every rank knows the totals)."""
        from samg_video.callbacks import ClipMetrics, ClipWriter

        # the run is over: a late Ctrl-C or SIGTERM must not make the status contradict the last line
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.SIG_IGN)
        incomplete, line = False, f"done; outputs in {self.trainer.default_root_dir}"
        # the writer speaks for a rendering run, the metrics callback for an evaluation run
        accountable = self._callbacks(ClipWriter) or self._callbacks(ClipMetrics)
        if accountable:
            incomplete, line = accountable[0].account()
        if self.trainer.is_global_zero:
            say(line)
        leave_process_group()
        if incomplete:
            sys.exit(EXIT_CLIPS_FAILED)

    def _written(self) -> str:
        from samg_video.callbacks import ClipWriter

        writers = self._callbacks(ClipWriter)
        if writers:
            return f"{writers[0].written_on_rank} clips were finished into {writers[0].directory}"
        return f"outputs so far are in {self.trainer.default_root_dir}"

    def _callbacks(self, kind: type) -> list[Any]:
        return [c for c in self.trainer.callbacks if isinstance(c, kind)]


def leave_process_group() -> None:
    """End a distributed run together: Lightning leaves the process group up after ``predict``, and a process
    that exits while its communication threads still run can abort ("terminate called without an active
    exception") instead of exiting with its status."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def main(args: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if args is None else args)
    configure_console()
    stop_on_sigterm()
    # ranks left without clips (a resumed run) are expected, not a mistake to warn about
    warnings.filterwarnings("ignore", message=r".*(across ranks is zero|local rank has zero length).*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended")
    # the writer takes clips from the batch, not batch indices (the loader streams batches, see BatchStream)
    warnings.filterwarnings("ignore", message=r"Couldn't infer the batch indices fetched from your dataloader")
    debug = bool(os.environ.get("SAMG_VIDEO_DEBUG"))
    started = time.monotonic()
    try:
        if args[:1] and args[0] in NOT_OFFERED:
            raise ConfigurationError(f"'{args[0]}' is not a samg-video command: it renders and scores clips with "
                                     "'predict' (lightning predict -c CONFIG; see lightning predict --help)")
        text = requested_help(args)
        if text is not None:
            print(text)
            sys.exit(EXIT_DONE)
        args = ["--help" if a == FULL_HELP_FLAG else a for a in args]
        _import_known_classes()  # so that short class names (--model.help VideoGenerator) resolve
        SamgVideoCLI(
            save_config_callback=RunConfigSaver,
            save_config_kwargs={"save_to_log_dir": False},
            # parse errors come back as exceptions, to be told in one line instead of usage plus a nested dump
            parser_kwargs={"exit_on_error": False, "predict": {"exit_on_error": False}},
            args=args,
        )
    except KeyboardInterrupt:
        if debug:
            raise
        say(f"{stopped_by(received)} before rendering started; nothing was written")
        sys.exit(signal_status(received))
    except Interrupted as interrupted:
        say(f"{stopped_by(received)} after {time.monotonic() - started:.0f} s; {interrupted}; re-running the same "
            "command resumes")
        sys.exit(signal_status(received))
    except ArgumentError as error:
        if debug:
            raise
        say(f"error: {explain_argument_error(str(error))}")
        sys.exit(EXIT_BAD_INPUT)
    except Exception as error:
        user_error = find_user_error(error)
        if debug:
            raise
        if isinstance(user_error, RunStopped):
            say(f"error: the run stopped: {user_error}; clips already finished are kept, and re-running the "
                "same command resumes")
            sys.exit(EXIT_STOPPED)
        if user_error is not None:
            say(f"error: {user_error}")
            sys.exit(EXIT_BAD_INPUT)
        full = disk_full(error)
        if full is not None:
            where = f", writing {full.filename}" if full.filename else ""
            say(f"error: the run stopped: the disk is full ({full.strerror}{where}); free some space; clips already "
                "finished are kept, and re-running the same command resumes")
            sys.exit(EXIT_STOPPED)
        traceback.print_exc()
        say(f"error: the run stopped with an unexpected {type(error).__name__} (traceback above); clips already "
            "finished are kept, and re-running the same command resumes")
        sys.exit(EXIT_STOPPED)


def _import_known_classes() -> None:
    import datamodules.prompts  # noqa: F401
    import datamodules.videos  # noqa: F401
    import samg_video.callbacks  # noqa: F401
    import samg_video.modules  # noqa: F401


def find_user_error(error: BaseException) -> BaseException | None:
    """Our own error behind ``error``: jsonargparse re-raises errors from ``__init__`` as its own."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, (ConfigurationError, ModelUnavailableError, RunStopped)):
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
