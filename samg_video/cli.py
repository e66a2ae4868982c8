"""Command line: ``lightning predict -c CONFIG`` (also ``samg-video`` and ``python -m samg_video``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from samg_video.errors import ConfigurationError, ModelUnavailableError

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
        parser.link_arguments("output_dir", "trainer.default_root_dir")


def main(args: list[str] | None = None) -> None:
    try:
        SamgVideoCLI(
            save_config_callback=RunConfigSaver,
            save_config_kwargs={"save_to_log_dir": False},
            args=args,
        )
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
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


if __name__ == "__main__":
    main()
