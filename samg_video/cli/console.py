"""What a run prints: samg-video's own lines, on rank 0, and none of Lightning's chatter (accelerator
listings, tips, the seed line)."""

from __future__ import annotations

import logging
import sys

PREFIX = "samg-video: "
# loggers of this project: the library, the callbacks and the datamodules
OWN_LOGGERS = ("samg_video", "datamodules")
QUIET_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning_utilities")


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test capture, a redirected stream)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _RankZeroOnly(logging.Filter):
    """Information and warnings once per run, not once per rank; errors from every rank."""

    def filter(self, record: logging.LogRecord) -> bool:
        from lightning.pytorch.utilities import rank_zero_only

        return record.levelno >= logging.ERROR or getattr(rank_zero_only, "rank", 0) == 0


class _Format(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        kind = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"{PREFIX}{kind}{record.getMessage()}"


def configure_console() -> None:
    """Route this project's log lines to stderr with the ``samg-video:`` prefix; quieten Lightning's."""
    import lightning.pytorch  # noqa: F401  (it sets its loggers' levels on import; ours come after)

    for name in OWN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(handler, _CurrentStderr) for handler in logger.handlers):
            handler = _CurrentStderr()
            handler.setFormatter(_Format())
            handler.addFilter(_RankZeroOnly())
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # per-call notices of the libraries (a prompt truncated to the text encoder's length, the ModelScope
    # pipeline's deprecation, the tiny tokenizers' missing files) would repeat on every batch; errors stay
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    # and their loading bars ("Loading pipeline components...", "Loading weights"), new in diffusers 0.42 and
    # transformers 5: the run's own clips bar says what it does (the pipeline's denoising bar is its own)
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


def say(message: str) -> None:
    """One line for the user, with the ``samg-video:`` prefix."""
    print(f"{PREFIX}{message}", file=sys.stderr, flush=True)
