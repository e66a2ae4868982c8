"""A decision about the output folder made once, on rank 0, and given to every rank."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def decided_on_rank_zero(trainer: Any, decide: Callable[[], T]) -> T:
    """``decide()`` on rank 0 only (it may read and prepare the folder); every rank gets its result, so that they
    all split the same list. An error there is raised on every rank, rather than the others waiting forever."""
    outcome: Any = None
    if trainer.is_global_zero:
        try:
            outcome = decide()
        except Exception as error:
            outcome = error
    outcome = trainer.strategy.broadcast(outcome, src=0)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
