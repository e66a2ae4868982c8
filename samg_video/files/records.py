"""The run's record files (``metrics.jsonl``, ``failures.jsonl``, ``errors.jsonl``): one JSON object per line.

Several ranks, and several jobs sharding one prompt list into the same folder, append to the same
file. Each line goes out in one ``O_APPEND`` write, and appends and rewrites hold an exclusive lock on
a hidden lock file beside the records, so that a rewrite (dropping the stale lines of clips about to
be re-rendered) never loses a line another process appends meanwhile. A line that cannot be written
whole (a full disk) is taken back, so the file never holds a cut-off record. Lines are split on ``\n``
only, and every string survives the trip (see :mod:`samg_video.files.json_text`).

Every reader goes through :func:`read_records`: a line that is not a clip record (not UTF-8, not JSON, not
an object with a non-empty string ``id``, or a field of the wrong type: :func:`record_problem`) is
skipped with one warning naming the file and the line, and never stops a run, a resume or a report. A run
moves such lines into ``<file>.damaged`` beside the file when it starts (:func:`set_aside_damaged_lines`).
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samg_video.files.json_text import json_text
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


# the fields of a clip record whose type is checked: its identity and its metrics (a finite number or null; for
# ``<metric>_per_frame`` / ``<metric>_per_pair`` a list of those). Other fields are the writers' details.
TEXT_FIELDS = ("prompt", "negative_prompt", "source", "reason")
WHOLE_NUMBER_FIELDS = ("seed", "num_frames", "height", "width")
# where the lines a reader could not use are kept, beside their file (``metrics.jsonl.damaged``)
DAMAGED_SUFFIX = ".damaged"
# (file, line number, line) already warned about in this process: a run reads its files many times
_warned: set[tuple[str, int, bytes]] = set()


@dataclass
class DamagedLine:
    number: int  # 1-based, counting every line of the file
    problem: str
    raw: bytes


@dataclass
class RecordFile:
    """A JSON-lines file as read: its clip records by id (the last line of an id wins), and the lines that
    are not records."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    damaged: list[DamagedLine] = field(default_factory=list)


def record_problem(record: Any) -> str | None:
    """What keeps ``record`` (a parsed JSON value) from being a clip record, or None when it is one."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__ if record is not None else 'null'}, not an object"
    clip_id = record.get("id")
    if not isinstance(clip_id, str) or not clip_id:
        return f"no valid id (a non-empty string): id={json.dumps(clip_id)[:60]}"
    metrics = _metric_fields()
    for key, value in record.items():
        if key in TEXT_FIELDS:
            valid = value is None or isinstance(value, str)
        elif key in WHOLE_NUMBER_FIELDS:
            valid = value is None or (isinstance(value, int) and not isinstance(value, bool))
        elif key in metrics:
            valid = value_is_a_number(value)
        elif key.endswith(("_per_frame", "_per_pair")) and key.rsplit("_per_", 1)[0] in metrics:
            valid = isinstance(value, list) and all(value_is_a_number(v) for v in value)
        else:
            continue
        if not valid:
            return f"{key}={json.dumps(value)[:60]} is not {_expected(key)}"
    return None


@functools.cache
def _metric_fields() -> frozenset[str]:
    from samg_video.metrics.suite import METRIC_NAMES, NUMBER_DETAILS  # the metrics know their own names

    return frozenset(METRIC_NAMES + NUMBER_DETAILS)


def value_is_a_number(value: Any) -> bool:
    """A metric's value: a finite number or null."""
    if value is None:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _expected(key: str) -> str:
    if key in TEXT_FIELDS:
        return "text"
    if key in WHOLE_NUMBER_FIELDS:
        return "a whole number"
    return "a list of numbers" if key.endswith(("_per_frame", "_per_pair")) else "a number"


def parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """``(record, None)`` for a clip record's line, ``(None, problem)`` for any other bytes."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, f"not UTF-8 text (byte {error.start})"
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # cut short by a crash or a full disk, or not JSON
        return None, "not valid JSON"
    problem = record_problem(record)
    return (None, problem) if problem else (record, None)


def _raw_lines(data: bytes) -> list[tuple[int, bytes]]:
    """``(number, line)`` of the non-blank lines, split on ``\n`` only."""
    lines = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        if raw.strip():
            lines.append((number, raw))
    return lines


def read_records(path: Path) -> RecordFile:
    """Every clip record of a JSON-lines file, and its damaged lines; never fails on what the file holds.
    Each damaged line is warned about once per process, naming the file and the line."""
    found = RecordFile()
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return found
    for number, raw in _raw_lines(data):
        record, problem = parse_line(raw)
        if record is None:
            found.damaged.append(DamagedLine(number, problem, raw))
            key = (str(path), number, raw)
            if key not in _warned:
                _warned.add(key)
                log.warning("%s:%d is not a clip record (%s); skipped", path, number, problem)
        else:
            found.records[record["id"]] = record
    return found


def read_lines(path: Path) -> dict[str, dict[str, Any]]:
    """The clip records of a JSON-lines file by id, the last line of an id winning; damaged lines skipped."""
    return read_records(path).records


def damaged_path(path: Path) -> Path:
    return path.with_name(path.name + DAMAGED_SUFFIX)


def set_aside_damaged_lines(path: Path) -> int:
    """Move the damaged lines of ``path`` into ``<name>.damaged`` beside it (appended, bytes as they were), then
    rewrite ``path`` with its records only, atomically, under the lock; returns how many lines were moved."""
    if not path.is_file():
        return 0
    with locked(path):
        lines = [(raw, parse_line(raw)[0] is not None) for _, raw in _raw_lines(path.read_bytes())]
        damaged = [raw for raw, is_record in lines if not is_record]
        if not damaged:
            return 0
        # first kept aside, then taken out: a crash in between leaves a line twice, never nowhere
        with open(damaged_path(path), "ab") as aside:
            aside.write(b"".join(raw + b"\n" for raw in damaged))
            aside.flush()
            os.fsync(aside.fileno())
        kept = [raw for raw, is_record in lines if is_record]
        with atomic_path(path) as temporary:
            temporary.write_bytes(b"".join(raw + b"\n" for raw in kept))
    log.warning("%s: %d damaged line%s moved to %s", path, len(damaged), "s" if len(damaged) != 1 else "",
                damaged_path(path))
    return len(damaged)


def count_damaged_lines(path: Path) -> int:
    """Damaged lines of ``path``: those in it now and those set aside beside it."""
    aside = damaged_path(path)
    kept_aside = len(_raw_lines(aside.read_bytes())) if aside.is_file() else 0
    return len(read_records(path).damaged) + kept_aside


def drop_lines(path: Path, ids: Iterable[str]) -> int:
    """Remove the lines of ``ids`` (atomically, under the lock); returns how many were removed. Damaged lines
    are left where they are (a run sets them aside when it starts)."""
    ids = set(ids)
    if not ids or not path.is_file():
        return 0
    with locked(path):
        data = path.read_bytes()
        # called for every batch a run claims: no parsing and no rewrite when none of the clips has a line
        # (lines are written by ``json_text``, so a clip's line holds ``"id": "<id>"``)
        if not any(json_text({"id": i})[1:-1].encode("utf-8") in data for i in ids):
            return 0
        kept, dropped = [], 0
        for _, raw in _raw_lines(data):
            record, _ = parse_line(raw)
            if record is not None and record["id"] in ids:
                dropped += 1
            else:
                kept.append(raw + b"\n")
        if dropped:
            with atomic_path(path) as temporary:
                temporary.write_bytes(b"".join(kept))
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
    lines were removed. Damaged lines are left for :func:`set_aside_damaged_lines`."""
    if not path.is_file():
        return 0
    with locked(path):
        lines = [(raw, parse_line(raw)[0]) for _, raw in _raw_lines(path.read_bytes())]
        last = {record["id"]: number for number, (_, record) in enumerate(lines) if record is not None}
        kept = [raw for number, (raw, record) in enumerate(lines) if record is None or last[record["id"]] == number]
        removed = len(lines) - len(kept)
        if removed:
            with atomic_path(path) as temporary:
                temporary.write_bytes(b"".join(raw + b"\n" for raw in kept))
    if removed:
        log.warning("%s held %d duplicated lines (from an older version); kept one line per clip", path, removed)
    return removed
