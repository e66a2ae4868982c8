"""The command line: ``lightning predict -c CONFIG`` (also ``samg-video`` and ``python -m samg_video``)."""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def main(args: list[str] | None = None) -> None:
    """The entry point; Ctrl-C while torch, Lightning and diffusers import is one line, not a traceback."""
    try:
        from samg_video.cli.command import main as run
    except KeyboardInterrupt:
        print("samg-video: interrupted before rendering started; nothing was written", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    run(args)


__all__ = ["main"]
