"""Per-clip claims in the output folder, so that any number of runs started into one folder share the work.

Before rendering a clip a run claims it: under one lock (``.claims/.claims.lock``, the ``flock`` that
the record files already rely on) it checks that the clip is not complete and not claimed, and writes
``.claims/<id>.json`` naming itself. Other runs skip a claimed clip and take the next. A claim is kept
alive by a heartbeat (its file's modification time, touched every few seconds by a thread); one whose
owner is gone (its process has ended, on this host) or whose heartbeat is older than ``timeout`` seconds
(any host) is stale, and the next run that comes by takes it over. A finished clip's claim is released.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from samg_video.files.json_text import json_text
from samg_video.files.media import atomic_path
from samg_video.files.records import locked
from samg_video.files.resume import complete_metadata

log = logging.getLogger(__name__)

CLAIMS_FOLDER = ".claims"
HEARTBEAT_SECONDS = 5.0


class ClaimState(Enum):
    COMPLETE = "complete"  # the clip's JSON matches its media file: done, by this run or another
    HELD = "held"  # a live run (another, or this one) is rendering it
    STALE = "stale"  # claimed by a run that is gone: it can be taken over
    FREE = "free"  # nobody holds it: it can be claimed


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    token: str  # tells apart two processes that got the same pid

    @classmethod
    def this_process(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12])

    def as_record(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "token": self.token}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class ClaimBook:
    """This process's claims on the clips of one output folder.

    Args:
        directory: the output folder.
        timeout: seconds without a heartbeat after which a claim is stale (any host; on this host a claim
            whose process has ended is stale at once).
    """

    def __init__(self, directory: Path, timeout: float = 60.0):
        self.directory = Path(directory)
        self.folder = self.directory / CLAIMS_FOLDER
        self.timeout = timeout
        self.owner = Owner.this_process()
        self.held: set[str] = set()
        self.taken_over: list[str] = []
        self._guard = threading.Lock()  # ``held`` is shared with the heartbeat thread and the writer's worker
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    # ---- claims --------------------------------------------------------------------------------
    def claim(self, clip_id: str, even_if_complete: bool = False) -> bool:
        """Claim ``clip_id`` for this process; True when it is now ours to render (it was free, or its
        holder is gone). ``even_if_complete``: a complete clip may be claimed too (``--overwrite``)."""
        with locked(self.folder / "claims"):
            state = self._state(clip_id, even_if_complete)
            if state not in (ClaimState.FREE, ClaimState.STALE):
                return False
            if state is ClaimState.STALE:
                holder = self._holder(clip_id)
                log.info("clip %s was claimed by a run that is gone (host %s, process %s); taking it over", clip_id,
                         holder.get("host"), holder.get("pid"))
            with atomic_path(self._path(clip_id)) as temporary:
                temporary.write_text(json_text({"id": clip_id, **self.owner.as_record(), "claimed": time.time()})
                                     + "\n", encoding="utf-8")
            if state is ClaimState.STALE:
                self.taken_over.append(clip_id)
        with self._guard:
            self.held.add(clip_id)
        self._start_heartbeat()
        return True

    def state(self, clip_id: str) -> ClaimState:
        with locked(self.folder / "claims"):
            return self._state(clip_id)

    def release(self, clip_id: str) -> None:
        """Give up the claim (the clip is finished, or will not be rendered by this process)."""
        with self._guard:
            if clip_id not in self.held:
                return
            self.held.discard(clip_id)
        with locked(self.folder / "claims"):
            if self._holder(clip_id) == self.owner.as_record():
                self._path(clip_id).unlink(missing_ok=True)

    def release_all(self) -> None:
        with self._guard:
            held = list(self.held)
        for clip_id in held:
            self.release(clip_id)
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
            self._heartbeat = None

    # ---- inside the lock -------------------------------------------------------------------------
    def _state(self, clip_id: str, even_if_complete: bool = False) -> ClaimState:
        # one rule for complete everywhere (resume's): a JSON that no longer matches its media is not done
        if not even_if_complete and (self.directory / f"{clip_id}.json").exists() and \
                complete_metadata(self.directory, clip_id) is not None:
            return ClaimState.COMPLETE
        holder = self._holder(clip_id)
        if holder is None:
            return ClaimState.FREE
        if holder == self.owner.as_record() or not self._stale(clip_id, holder):
            return ClaimState.HELD
        return ClaimState.STALE

    def _holder(self, clip_id: str) -> dict[str, Any] | None:
        try:
            record = json.loads(self._path(clip_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # cut short by a crash while claiming, or damaged: nobody's
            record = None
        if not isinstance(record, dict):
            return {"host": None, "pid": None, "token": None}
        return {key: record.get(key) for key in ("host", "pid", "token")}

    def _stale(self, clip_id: str, holder: dict[str, Any]) -> bool:
        if holder.get("host") == self.owner.host and isinstance(holder.get("pid"), int):
            if not _process_alive(holder["pid"]):
                return True
        try:
            age = time.time() - self._path(clip_id).stat().st_mtime
        except FileNotFoundError:
            return True
        return age > self.timeout

    def _path(self, clip_id: str) -> Path:
        return self.folder / f"{clip_id}.json"

    # ---- heartbeat -----------------------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        if self._heartbeat is None:
            self._stop.clear()
            self._heartbeat = threading.Thread(target=self._beat, name="claims-heartbeat", daemon=True)
            self._heartbeat.start()

    def _beat(self) -> None:
        interval = min(HEARTBEAT_SECONDS, self.timeout / 4)
        while not self._stop.wait(interval):
            with self._guard:
                held = list(self.held)
            for clip_id in held:
                try:
                    os.utime(self._path(clip_id))
                except FileNotFoundError:
                    pass
