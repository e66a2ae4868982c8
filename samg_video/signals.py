"""A scheduler's graceful stop (SIGTERM) ends a run as Ctrl-C does (no heavy imports: the CLI installs this
first, so that even a run still importing torch stops cleanly).

Lightning's own SIGTERM handler only notes the signal, and its predict loop never looks at the note, so a
SIGTERMed run would render every remaining clip. Here SIGTERM raises :class:`Terminated` (a
``KeyboardInterrupt``) in the main thread: Lightning then finishes writing the clips already rendered,
abandons the one being denoised, and stops; records are written whole or not at all, so a re-run resumes.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

# the signals received so far in this process (the CLI gives the exit status 128 + the first one)
received: list[int] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop as on Ctrl-C."""


def _stop(signum: int, frame: Any) -> None:
    if received:  # stopping already: a second SIGTERM must not interrupt the clean-up
        return
    received.append(signum)
    raise Terminated(f"received {signal.Signals(signum).name}")


def stop_on_sigterm() -> None:
    """Make SIGTERM stop this process gracefully (from the main thread only, as Python requires)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)


def stopped_by(signals: list[int]) -> str:
    return f"stopped by {signal.Signals(signals[0]).name}" if signals else "interrupted"


def signal_status(signals: list[int]) -> int:
    """The shell's convention: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM)."""
    return 128 + signals[0] if signals else 128 + signal.SIGINT
