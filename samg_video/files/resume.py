"""Which clips of a run are already complete in its output folder, so that a re-run renders only the rest.

A clip is complete when ``<id>.json`` exists, parses, and records the size and SHA-256 of its media file
(``<id>.mp4``, or ``<id>.png`` for an image) as it is on disk. The writer writes the media file first and
the JSON last, each atomically, and removes an old JSON before replacing its media file, so a run killed
at any point leaves no clip that looks complete and is not.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from samg_video.errors import ConfigurationError

# fields of a clip's JSON that must equal this run's for the clip to count as this run's output
ITEM_FIELDS = ("prompt", "negative_prompt", "seed")
HASH_WORKERS = 4


@dataclass
class ResumePlan:
    """What a run does with each of its clips."""

    to_render: list[dict[str, Any]]
    complete: list[str] = field(default_factory=list)  # ids skipped: already complete
    replaced: list[str] = field(default_factory=list)  # ids complete but rendered again (overwrite)

    def summary(self, directory: Path) -> str:
        total = len(self.to_render) + len(self.complete)
        if self.replaced:
            return (f"overwriting: rendering all {total} clips into {directory}, "
                    f"{len(self.replaced)} of them replacing complete clips")
        if self.complete and not self.to_render:
            return f"all {total} clips are complete in {directory}; nothing to render, the model is not loaded"
        if self.complete:
            return (f"resuming: {len(self.complete)} of {total} clips are complete in {directory}; "
                    f"rendering {len(self.to_render)}")
        return f"rendering {total} clips into {directory}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# the JSON key describing a clip's media file, and that file's suffix
MEDIA_FILES = {"video": ".mp4", "image": ".png"}


def complete_metadata(directory: Path, clip_id: str) -> dict[str, Any] | None:
    """The clip's JSON when the clip is complete (the JSON matches its media file on disk), else None."""
    try:
        metadata = json.loads((directory / f"{clip_id}.json").read_text(encoding="utf-8"))
        key = next(key for key in MEDIA_FILES if key in metadata)
        media = metadata[key]
        media_path = directory / media["file"]
        if media["file"] != f"{clip_id}{MEDIA_FILES[key]}" or media_path.stat().st_size != media["bytes"]:
            return None
        return metadata if file_sha256(media_path) == media["sha256"] else None
    except (OSError, ValueError, KeyError, TypeError, StopIteration):  # missing, unreadable or not this package's JSON
        return None


def differences(recorded: Any, expected: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted field, recorded, expected)`` for every leaf that differs."""
    if isinstance(recorded, dict) and isinstance(expected, dict):
        found = []
        for key in sorted(set(recorded) | set(expected), key=str):
            found += differences(recorded.get(key), expected.get(key), f"{prefix}{key}.")
        return found
    return [] if recorded == expected else [(prefix.rstrip("."), recorded, expected)]


def expected_metadata(item: dict[str, Any], settings: dict[str, Any], default_negative: str) -> dict[str, Any]:
    """The fields of a clip's JSON that this run would write for ``item``."""
    return {"prompt": item["prompt"], "negative_prompt": item.get("negative_prompt") or default_negative,
            "seed": item["seed"], **settings}


def plan_resume(directory: Path, items: list[dict[str, Any]], settings: dict[str, Any], default_negative: str = "",
                overwrite: bool = False) -> ResumePlan:
    """Split ``items`` into clips to render and clips already complete in ``directory``.

    ``settings`` are the run's clip-level fields (size, fps, model, guidance). A complete clip rendered
    with other settings or another prompt under the same id is a ``ConfigurationError`` unless
    ``overwrite``: skipping it would pass it off as this run's.
    """
    if not directory.is_dir():
        return ResumePlan(to_render=list(items))
    present = {entry.name for entry in os.scandir(directory)}
    candidates = [item for item in items if f"{item['id']}.json" in present]
    with ThreadPoolExecutor(HASH_WORKERS) as pool:  # hashing releases the GIL
        found = dict(zip((item["id"] for item in candidates),
                         pool.map(lambda item: complete_metadata(directory, item["id"]), candidates)))
    plan = ResumePlan(to_render=[])
    for item in items:
        metadata = found.get(item["id"])
        if metadata is None:
            plan.to_render.append(item)
            continue
        if overwrite:
            plan.to_render.append(item)
            plan.replaced.append(item["id"])
            continue
        # through JSON, as the writer stored it (tuples become lists)
        expected = json.loads(json.dumps(expected_metadata(item, settings, default_negative)))
        changed = differences({key: metadata.get(key) for key in expected}, expected)
        if changed:
            name, was, now = changed[0]
            raise ConfigurationError(
                f"--output_dir {directory} already holds clip {item['id']} rendered with other settings: "
                f"{name} was {json.dumps(was)}, this run has {json.dumps(now)}"
                f"{f' (and {len(changed) - 1} more fields)' if len(changed) > 1 else ''}. "
                "Render into another --output_dir, or pass --overwrite to replace the clips of this run"
            )
        plan.complete.append(item["id"])
    return plan


def remove_stale_temporaries(directory: Path, ids: list[str]) -> int:
    """Delete the hidden temporary files a killed run left for ``ids`` (``.<id>.<random>.tmp.<ext>``)."""
    if not directory.is_dir():
        return 0
    wanted, removed = set(ids), 0
    for entry in os.scandir(directory):
        name = entry.name
        if name.startswith(".") and ".tmp." in name and name[1:].split(".", 1)[0] in wanted:
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def check_output_dir(directory: str | Path, keep: bool = False, option: str = "--output_dir") -> None:
    """Fail before any work when ``directory`` cannot be created or written.

    Permissions alone do not tell (``/proc`` and ``/sys`` look writable to root, and are not), so the
    missing folders are created and a file is written, then all of it is removed again (the folders are
    kept with ``keep``: the run is starting). ``option`` names the folder in the messages."""
    if not str(directory).strip():
        raise ConfigurationError(f"{option} is empty; give the folder to write into, e.g. {option} outputs")
    directory = Path(directory).expanduser()
    if directory.exists() and not directory.is_dir():
        raise ConfigurationError(f"{option} {directory} exists and is not a folder")
    missing = []
    for folder in (directory, *directory.absolute().parents):
        if folder.exists():
            if not folder.is_dir():
                raise ConfigurationError(f"{option} {directory} cannot be created: {folder} is a file, "
                                         "not a folder")
            break
        missing.append(folder)
    created = []
    try:
        for folder in reversed(missing):
            folder.mkdir(exist_ok=True)  # another rank or job may create it at the same time
            created.append(folder)
        handle, probe = tempfile.mkstemp(prefix=".write-check.", dir=directory)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        verb = "cannot be created" if missing else "is not writable"
        raise ConfigurationError(f"{option} {directory} {verb}: {error.strerror or error}") from None
    finally:
        for folder in [] if keep else reversed(created):
            try:
                folder.rmdir()
            except OSError:  # another job started into it meanwhile: it is theirs now
                break
