"""Prompts in, batches of render items out.

Sources: a ``.txt`` file (one prompt per line, blank lines skipped), a ``.csv`` file or a ``.jsonl`` file
(fields ``prompt``, optional ``negative_prompt``, ``seed``, ``id``), or an inline list of prompts.

Prompts are taken verbatim: the text between the line ends of a ``.txt`` file (``\n`` or ``\r\n``), the
whole field of a CSV (quoted fields keep their newlines) or JSON string. Surrounding spaces, tabs and
other characters are part of the prompt, of its clip's id and of its seed, so no two rows collapse into
one clip; prompts that start or end with white space are reported once, in case that was not meant.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, IterableDataset

from datamodules.rank_share import rank_share
from samg_video.errors import ConfigurationError
from samg_video.files.clip_ids import clip_id, stable_suffix
from samg_video.files.json_text import json_lines
from samg_video.files.run_files import RESERVED_IDS
from samg_video.parallel.groups import FollowerStream, follows_its_group

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".csv", ".jsonl")
FIELDS = ("prompt", "negative_prompt", "seed", "id")


def derived_seed(base_seed: int, prompt: str, occurrence: int, copy: int) -> int:
    """A per-item seed from the base seed and the item itself, not its position in the list, so that
    adding or reordering other prompts never changes a clip."""
    return int(stable_suffix(base_seed, prompt, occurrence, copy), 16) % (2**31)


def read_prompt_rows(prompts: str | list[str]) -> list[tuple[str, dict[str, Any]]]:
    """``(where, row)`` pairs, ``where`` naming the file and line for error messages."""
    if isinstance(prompts, (list, tuple)):
        if not prompts:
            raise ConfigurationError("data.prompts is an empty list; give at least one prompt, or a .txt, .csv "
                                     "or .jsonl file of prompts")
        rows = []
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str) or not prompt.strip():
                raise ConfigurationError(f"data.prompts[{i}] is empty or not text; every prompt needs text")
            rows.append((f"data.prompts[{i}]", {"prompt": prompt}))
        return rows
    path = Path(prompts).expanduser()
    if path.suffix.lower() not in SUFFIXES:
        raise ConfigurationError(f"data.prompts={prompts!r}: unknown file type {path.suffix!r}; use one of "
                                 f"{', '.join(SUFFIXES)} or an inline list of prompts")
    if not path.is_file():
        raise ConfigurationError(f"data.prompts: file not found: {path}")
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:  # line ends as written: CSV fields keep theirs
            text = file.read()
    except UnicodeDecodeError as error:
        raise ConfigurationError(f"{path}: not UTF-8 text ({error})") from None
    reader = {".txt": _text_rows, ".csv": _csv_rows, ".jsonl": _jsonl_rows}[path.suffix.lower()]
    rows = reader(text, path)
    if not rows:
        raise ConfigurationError(f"{path}: no prompts in the file")
    return rows


def _text_rows(text: str, path: Path) -> list[tuple[str, dict]]:
    # lines end at \n only: U+2028, U+0085 or a form feed inside a prompt are part of it
    return [(f"{path}:{n}", {"prompt": line}) for n, line in enumerate(json_lines(text), 1) if line.strip()]


def _csv_rows(text: str, path: Path) -> list[tuple[str, dict]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))  # as the csv module asks: quoted newlines kept
    if reader.fieldnames is None:
        return []
    if "prompt" not in reader.fieldnames:
        raise ConfigurationError(f"{path}:1: the header has no 'prompt' column (columns: {', '.join(reader.fieldnames)})")
    rows = []
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if None in row:
            raise ConfigurationError(f"{where}: more values than the header has columns")
        rows.append((where, {key: value for key, value in row.items() if key in FIELDS and value not in (None, "")}))
    return rows


def _jsonl_rows(text: str, path: Path) -> list[tuple[str, dict]]:
    rows = []
    for n, line in enumerate(json_lines(text), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise ConfigurationError(f"{where}: each line must be a JSON object with a 'prompt' field")
        rows.append((where, row))
    return rows


def build_items(rows: list[tuple[str, dict]], seed: int, videos_per_prompt: int) -> list[dict[str, Any]]:
    """Validate rows and expand them into one render item per clip."""
    items, occurrences, explicit_ids = [], Counter(), {}
    for where, row in rows:
        prompt = row.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ConfigurationError(f"{where}: missing or empty 'prompt' (fields: {', '.join(FIELDS)})")
        negative = row.get("negative_prompt") or ""
        if not isinstance(negative, str):
            raise ConfigurationError(f"{where}: 'negative_prompt' must be text")
        row_seed = row.get("seed")
        if row_seed is not None:
            row_seed = _whole_number(row_seed, where)
        explicit = row.get("id")
        if explicit is not None:
            explicit = str(explicit)
            if explicit in RESERVED_IDS:
                raise ConfigurationError(f"{where}: id {explicit!r} is the name of one of the run's own files; "
                                         f"choose another (reserved: {', '.join(RESERVED_IDS)})")
            if explicit in explicit_ids:
                raise ConfigurationError(f"{where}: id {explicit!r} is already used at {explicit_ids[explicit]}")
            explicit_ids[explicit] = where
        occurrence = occurrences[prompt]
        occurrences[prompt] += 1
        for copy in range(videos_per_prompt):
            item_seed = row_seed + copy if row_seed is not None else derived_seed(seed, prompt, occurrence, copy)
            item_id = None if explicit is None else (explicit if videos_per_prompt == 1 else f"{explicit}-{copy}")
            items.append({
                "id": clip_id(prompt, negative, item_seed, item_id),
                "prompt": prompt,
                "negative_prompt": negative,
                "seed": item_seed,
                "source": where,
            })
    padded = [source for source, row in rows if isinstance(row.get("prompt"), str)
              and row["prompt"] != row["prompt"].strip()]
    if padded:
        log.info("%d prompt%s start or end with white space, kept as written (first: %s)", len(padded),
                 "s" if len(padded) > 1 else "", padded[0])
    seen: dict[str, str] = {}
    for item in items:  # identical prompt and seed twice would write one file twice
        if item["id"] in seen:
            raise ConfigurationError(f"{item['source']}: the same prompt with the same seed as {seen[item['id']]}; "
                                     "give it another seed or drop the duplicate")
        seen[item["id"]] = item["source"]
    return items


def _whole_number(seed: Any, where: str) -> int:
    """A row's seed: a JSON integer or the digits of a CSV field; not 1.5, true or Infinity."""
    if isinstance(seed, str) and re.fullmatch(r"\s*\d+\s*", seed):
        seed = int(seed)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigurationError(f"{where}: 'seed'={json.dumps(seed) if not isinstance(seed, str) else repr(seed)} "
                                 "is not a whole number; give an integer in [0, 2**63)")
    if not 0 <= seed < 2**63:
        raise ConfigurationError(f"{where}: 'seed'={seed} must be in [0, 2**63)")
    return seed


class PromptDataModule(LightningDataModule):
    """Prompts to render, in batches.

    The list is cut into batches of ``batch_size`` consecutive clips; under DDP, rank ``r`` renders batches
    ``r, r + world_size, ...``: each clip exactly once, a rank possibly none, and a clip's batch-mates are
    the same for any number of ranks. With CFG-parallel (``model.cfg_parallel: 2``) the pairs of ranks
    share them so, pair ``p`` of ``P`` taking batches ``p, p + P, ...``.
    ``num_shards`` / ``shard_index`` split a long list between independent jobs (e.g. a SLURM array),
    the whole list being read and validated in each.

    Args:
        prompts: a path to a ``.txt``, ``.csv`` or ``.jsonl`` file, or an inline list of prompts.
        seed: base seed; items without an explicit ``seed`` get one derived from it, their prompt and
            their copy number, so a clip never depends on the other prompts.
        batch_size: prompts rendered together in one pipeline call.
        videos_per_prompt: clips per prompt, each with its own seed (an explicit seed ``s`` gives ``s, s+1, ...``).
        num_shards: split the clips into this many shards, by position (clip ``i`` goes to shard ``i % num_shards``).
        shard_index: the shard this job renders, in ``[0, num_shards)``.
    """

    def __init__(self, prompts: str | list[str], seed: int = 0, batch_size: int = 1, videos_per_prompt: int = 1,
                 num_shards: int = 1, shard_index: int = 0):
        super().__init__()
        # with fewer clips than ranks (say, resuming with three left on eight GPUs) some ranks have none
        self.allow_zero_length_dataloader_with_multiple_devices = True
        # set by the clip writer: batches to render after this rank's own (see BatchStream)
        self.more_batches: Callable[[], Iterable[list[dict[str, Any]]]] | None = None
        for name, value in (("batch_size", batch_size), ("videos_per_prompt", videos_per_prompt),
                            ("num_shards", num_shards)):
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"data.{name}={value!r} is not valid; it must be a whole number >= 1")
        if not isinstance(shard_index, int) or not 0 <= shard_index < num_shards:
            raise ConfigurationError(f"data.shard_index={shard_index!r} is not valid; it must be a whole number "
                                     f"in [0, {num_shards - 1}] (data.num_shards={num_shards})")
        self.batch_size = batch_size
        # read and validated now, before any model weights load
        self.items = build_items(read_prompt_rows(prompts), seed, videos_per_prompt)[shard_index::num_shards]

    def predict_dataloader(self) -> DataLoader:
        # batches are made from the whole list and then shared out, so which clips share a pipeline call
        # does not depend on the number of ranks; items carry text, not tensors
        batches = [self.items[i:i + self.batch_size] for i in range(0, len(self.items), self.batch_size)]
        if follows_its_group(self.trainer):  # CFG- or context-parallel: the group's leader hands this rank its batches
            return DataLoader(FollowerStream(self.trainer.lightning_module.group_state), batch_size=None,
                              collate_fn=list)
        share = rank_share(batches, self.trainer)
        mine = [batches[i] for i in share] if share is not None else batches
        return DataLoader(BatchStream(mine, self.more_batches), batch_size=None, collate_fn=list)


class BatchStream(IterableDataset):
    """This rank's batches, then whatever ``more()`` yields once they are done (the clip writer's clips that
    another run into the same folder held, and left)."""

    def __init__(self, batches: list[list[dict[str, Any]]],
                 more: Callable[[], Iterable[list[dict[str, Any]]]] | None = None):
        self.batches, self.more = batches, more
        self.clip_count = sum(len(batch) for batch in batches)

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        yield from self.batches
        if self.more is not None:
            yield from self.more()
