"""The command line: ``lightning predict -c CONFIG`` (also ``samg-video`` and ``python -m samg_video``)."""

from __future__ import annotations

import sys


def main(args: list[str] | None = None) -> None:
    """The entry point; Ctrl-C or SIGTERM while torch, Lightning and diffusers import is one line, not a
    traceback."""
    from samg_video.signals import received, signal_status, stop_on_sigterm, stopped_by

    stop_on_sigterm()
    try:
        from samg_video.cli.command import main as run
    except KeyboardInterrupt:
        print(f"samg-video: {stopped_by(received)} before rendering started; nothing was written", file=sys.stderr)
        sys.exit(signal_status(received))
    run(args)


__all__ = ["main"]
