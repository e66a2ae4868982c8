"""CPU work (metrics, encoding, writing) done beside rendering, so that it does not stall the accelerator."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from typing import Any


class BackgroundWork:
    """Runs tasks in order on one worker thread, or inline when ``enabled`` is False.

    At most ``max_pending`` tasks wait at a time: a submit beyond that blocks until one finishes, so
    frames cannot pile up in memory when rendering outpaces the work. A failed task is re-raised at
    the next submit or at ``drain``, unless ``reraise`` is False: then its future carries the error to
    whoever reads the result.
    """

    def __init__(self, name: str, enabled: bool, max_pending: int = 8, reraise: bool = True):
        self.name = name
        self.enabled = enabled
        self.max_pending = max_pending
        self.reraise = reraise
        self._pending: list[cf.Future] = []
        self._executor = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) if enabled else None

    def submit(self, task: Callable[..., Any], *args: Any) -> cf.Future:
        if self._executor is None:
            future: cf.Future = cf.Future()
            try:
                future.set_result(task(*args))
            except Exception as error:
                if self.reraise:
                    raise
                future.set_exception(error)
            return future
        self._collect(block=len(self._pending) >= self.max_pending)
        future = self._executor.submit(task, *args)
        self._pending.append(future)
        return future

    def drain(self) -> None:
        """Wait for every task; raise the first failure."""
        while self._pending:
            self._collect(block=True)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _collect(self, block: bool) -> None:
        if block and self._pending:
            cf.wait(self._pending, return_when=cf.FIRST_COMPLETED)
        done = [future for future in self._pending if future.done()]
        self._pending = [future for future in self._pending if not future.done()]
        for future in done:
            if self.reraise:
                future.result()  # re-raises the task's exception here, on the caller's thread
