"""The run's record files (``metrics.jsonl``, ``failures.jsonl``, ``errors.jsonl``): one JSON object per line.

Several ranks, and several jobs sharding one prompt list into the same folder, append to the same
file. Each line goes out in one ``O_APPEND`` write, and appends and rewrites hold an exclusive lock on
a hidden lock file beside the records, so that a rewrite (dropping the stale lines of clips about to
be re-rendered) never loses a line another process appends meanwhile. A line that cannot be written
whole (a full disk) is taken back, so the file never holds a cut-off record. Lines are split on ``\n``
only, and every string survives the trip (see :mod:`samg_video.files.json_text`).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from samg_video.files.json_text import json_lines, json_text
from samg_video.files.media import atomic_path
from samg_video.files.run_files import RUN_FILES, SUMMARY_CSV, SUMMARY_JSON

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
    """One JSON line appended with a single write, so lines from several processes never interleave; all
    of it or, when the write fails (``OSError``, e.g. a full disk), none of it."""
    data = (json_text(record) + "\n").encode("utf-8")
    with locked(path):
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            size = os.fstat(descriptor).st_size
            try:
                written = os.write(descriptor, data)
                if written != len(data):  # a short write: the disk filled up part-way
                    raise OSError(28, f"No space left on device: {written} of {len(data)} bytes written", str(path))
            except OSError:
                os.ftruncate(descriptor, size)  # take back the part that was written
                raise
        finally:
            os.close(descriptor)


def read_lines(path: Path) -> dict[str, dict[str, Any]]:
    """The records of a JSON-lines file by clip id, the last line of an id winning."""
    records: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return records
    for number, text in enumerate(json_lines(path.read_text(encoding="utf-8")), start=1):
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
        content = path.read_text(encoding="utf-8")
        # called for every batch a run claims: no parsing and no rewrite when none of the clips has a line
        # (lines are written by ``json_text``, so a clip's line holds ``"id": "<id>"``) and no line is cut off
        if content.endswith("\n") and not any(f'"id": {json.dumps(i)}' in content for i in ids):
            return 0
        kept, dropped = [], 0
        for text in json_lines(content):
            try:
                record_id = json.loads(text).get("id") if text.strip() else None
            except (json.JSONDecodeError, AttributeError):
                record_id = None  # a damaged line names no clip: dropped with the stale ones
            if not text.strip():
                continue
            if record_id is None or str(record_id) in ids:
                dropped += 1
            else:
                kept.append(text + "\n")
        if dropped:
            with atomic_path(path) as temporary:
                temporary.write_text("".join(kept), encoding="utf-8")
    return dropped


def remove_stale_run_temporaries(directory: Path) -> int:
    """Delete the hidden temporary files that a killed run left from rewriting the run's own files
    (``.metrics.<random>.tmp.jsonl``, ``.summary.<random>.tmp.json``, ...). They are removed under the lock of
    their file, which every rewrite holds, so a rewrite of another live process is never disturbed."""
    if not directory.is_dir():
        return 0
    stale: dict[str, list[str]] = {}
    for entry in os.scandir(directory):
        match = _RUN_TEMPORARY.fullmatch(entry.name)
        lock = _LOCK_OF.get(f"{match['stem']}{match['suffix']}") if match else None
        if lock is not None:
            stale.setdefault(lock, []).append(entry.path)
    removed = 0
    for name, paths in stale.items():
        with locked(directory / name):
            for path in paths:
                try:
                    os.unlink(path)
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed


# a run file's temporary is ``.<stem>.<random>.tmp<suffix>`` (see ``atomic_path``); summary.csv is written
# together with summary.json, under the latter's lock
_LOCK_OF = {name: name for name in RUN_FILES} | {SUMMARY_CSV: SUMMARY_JSON}
_RUN_TEMPORARY = re.compile(
    r"\.(?P<stem>" + "|".join(re.escape(Path(n).stem) for n in RUN_FILES) + r")\.[^.]+\.tmp(?P<suffix>"
    + "|".join(sorted({re.escape(Path(n).suffix) for n in RUN_FILES})) + ")"
)


def deduplicate_lines(path: Path) -> int:
    """Keep one line per clip id, the last (older versions could write two for a clip); returns how many
    lines were removed."""
    if not path.is_file():
        return 0
    with locked(path):
        texts = [text for text in json_lines(path.read_text(encoding="utf-8")) if text.strip()]
        last: dict[str, int] = {}
        damaged: set[int] = set()  # left for the readers to skip
        for number, text in enumerate(texts):
            try:
                last[str(json.loads(text).get("id"))] = number
            except (json.JSONDecodeError, AttributeError):
                damaged.add(number)
        wanted = damaged | set(last.values())
        kept = [text for number, text in enumerate(texts) if number in wanted]
        removed = len(texts) - len(kept)
        if removed:
            with atomic_path(path) as temporary:
                temporary.write_text("".join(text + "\n" for text in kept), encoding="utf-8")
    if removed:
        log.warning("%s held %d duplicated lines (from an older version); kept one line per clip", path, removed)
    return removed

