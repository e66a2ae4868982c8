"""The run's record files (``metrics.jsonl``, ``failures.jsonl``, ``errors.jsonl``): one JSON object per line.

Several ranks, and several jobs sharding one prompt list into the same folder, append to the same
file. Each line goes out in one ``O_APPEND`` write, and appends and rewrites hold an exclusive lock on
a hidden lock file beside the records, so that a rewrite (dropping the stale lines of clips about to
be re-rendered) never loses a line another process appends meanwhile.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from samg_video.files.media import atomic_path

log = logging.getLogger(__name__)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive lock for ``path``'s records, held on ``.<name>.lock`` (the records file itself gets
    replaced by rewrites, so it cannot carry the lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path.with_name(f".{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def append_line(path: Path, record: dict[str, Any]) -> None:
    """One JSON line appended with a single write, so lines from several processes never interleave."""
    data = (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    with locked(path):
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(descriptor, data)
        finally:
            os.close(descriptor)


def read_lines(path: Path) -> dict[str, dict[str, Any]]:
    """The records of a JSON-lines file by clip id, the last line of an id winning."""
    records: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return records
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError:  # a line cut short by a crash or a full disk
            log.warning("%s:%d is not valid JSON; skipped", path, number)
            continue
        records[str(record.get("id"))] = record
    return records


def drop_lines(path: Path, ids: Iterable[str]) -> int:
    """Remove the lines of ``ids`` (atomically, under the lock); returns how many were removed."""
    ids = set(ids)
    if not ids or not path.is_file():
        return 0
    with locked(path):
        kept, dropped = [], 0
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                record_id = json.loads(text).get("id") if text.strip() else None
            except (json.JSONDecodeError, AttributeError):
                record_id = None  # a damaged line names no clip: dropped with the stale ones
            if record_id is None or str(record_id) in ids:
                dropped += 1
            else:
                kept.append(text + "\n")
        if dropped:
            with atomic_path(path) as temporary:
                temporary.write_text("".join(kept), encoding="utf-8")
    return dropped
