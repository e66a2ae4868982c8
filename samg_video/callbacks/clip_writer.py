"""Callback that writes each rendered clip as ``<output_dir>/<clip_id>.mp4`` (``.png`` for an image) plus its
JSON metadata, skips
clips a previous run completed, and records clips that failed in ``<output_dir>/failures.jsonl``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from samg_video.callbacks.background import BackgroundWork
from samg_video.callbacks.loggers import log_sample
from samg_video.callbacks.rank_zero import decided_on_rank_zero
from samg_video.errors import ConfigurationError, RunStopped, disk_full
from samg_video.files.claims import ClaimBook, ClaimState
from samg_video.files.media import PICTURE_TAGS, write_json, write_mp4, write_png
from samg_video.files.records import (
    append_line,
    deduplicate_lines,
    drop_lines,
    read_lines,
    remove_stale_run_temporaries,
    set_aside_damaged_lines,
)
from samg_video.files.resume import (
    MEDIA_FILES,
    ResumePlan,
    check_output_dir,
    file_sha256,
    plan_resume,
    remove_stale_temporaries,
)
from samg_video.files.run_files import FAILURES_FILE, METRICS_FILE

log = logging.getLogger(__name__)

# how often a run waiting for other runs' clips (wait_for_others) looks again
CLAIM_POLL_SECONDS = 1.0
# the run's counts over all ranks: failed and written here, complete and failed in other runs, still in theirs
TOTALS = ("failed", "written", "elsewhere", "failed_elsewhere", "still_elsewhere")


class ClipWriter(BasePredictionWriter):
    """Writes clips and metadata as each batch finishes, atomically (temporary file, then rename).

    Videos become H.264 mp4 files; images (one-frame clips of the image families) lossless PNG files.
    The JSON is written after the media file and records its size and SHA-256, so a clip is complete
    exactly when its JSON exists and matches the media file. Before rendering starts, clips already
    complete in the output folder are taken out of the run (``overwrite`` renders them again). When
    ``ClipMetrics`` runs (listed before this callback), the JSON also holds the clip's metrics under
    ``metrics``; when ``ScaleMapWriter`` runs, the names of its pictures under ``scale_map``.

    A clip that fails (non-finite latents or frames, encoding or writing) is recorded in
    ``failures.jsonl`` with the reason and the run goes on; ``failed_clips`` then holds the number of
    clips that failed in the run, over all ranks. A full disk stops the run after the clips it hit are
    recorded as failed (where the record can still be written): the clips after them could not be kept.

    Args:
        output_dir: where clips go; unset, the run's ``--output_dir``.
        lossless: encode losslessly (libx264rgb, crf 0) for metric-grade files; larger.
        crf: H.264 quality when not lossless (lower is better; 18 is visually lossless).
        background: encode and write on a worker thread while the accelerator renders the next batch;
            unset, on when the run uses an accelerator other than the CPU.
        overwrite: render and replace clips that are already complete (the CLI's ``--overwrite``).
        logged_samples: when the trainer has loggers, how many of the first clips written on rank 0 are
            also sent to them (W&B: the video; TensorBoard: a strip of frames; CSV: none, numbers only).
    """

    def __init__(self, output_dir: str | None = None, lossless: bool = False, crf: int = 18,
                 background: bool | None = None, overwrite: bool = False, logged_samples: int = 4,
                 wait_for_others: bool = False, claim_timeout: float = 60.0):
        super().__init__(write_interval="batch")
        if not isinstance(claim_timeout, (int, float)) or isinstance(claim_timeout, bool) or claim_timeout <= 0:
            raise ConfigurationError(f"ClipWriter claim_timeout={claim_timeout!r} is not valid; it must be a number "
                                     "of seconds > 0")
        if not isinstance(crf, int) or not 0 <= crf <= 51:
            raise ConfigurationError(f"ClipWriter crf={crf!r} is not valid; it must be a whole number in [0, 51]")
        if not isinstance(logged_samples, int) or logged_samples < 0:
            raise ConfigurationError(f"ClipWriter logged_samples={logged_samples!r} is not valid; "
                                     "it must be a whole number >= 0")
        self.logged_samples = logged_samples
        self.output_dir = output_dir
        self.lossless = lossless
        self.crf = crf
        self.background = background
        self.overwrite = overwrite
        self.wait_for_others = wait_for_others
        self.claim_timeout = float(claim_timeout)
        self.claims: ClaimBook | None = None
        self.deferred: dict[str, dict[str, Any]] = {}  # clips another run was rendering when this one came by
        self.skipped_on_rank = 0
        self.elsewhere = {"complete": 0, "failed": 0}  # clips of this run's list that other runs finished
        self.totals: dict[str, int] | None = None  # over all ranks, at the end of the run
        self.work: BackgroundWork | None = None
        self.plan: ResumePlan | None = None
        self.failed_on_rank = 0
        self.failed_clips = 0
        self.written_on_rank = 0
        self.disk_full: OSError | None = None

    # ---- start of the run: what is left to render -----------------------------------------------
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self.directory = Path(self.output_dir or trainer.default_root_dir)
        check_output_dir(self.directory, keep=True)
        background = trainer.strategy.root_device.type != "cpu" if self.background is None else self.background
        self.work = BackgroundWork("clip-writer", enabled=background)
        self.failed_on_rank = self.failed_clips = self.written_on_rank = 0
        self.disk_full = None
        self.claims = ClaimBook(self.directory, self.claim_timeout)
        self.deferred, self.elsewhere = {}, {"complete": 0, "failed": 0}
        self.skipped_on_rank = 0  # clips of this rank's list taken out of their batch: another run has them
        self.totals = None
        self.sample_loggers = list(trainer.loggers) if trainer.is_global_zero else []
        # what other callbacks recorded of a clip (its metric line), to take back when the clip fails
        self.forgetters = [c.forget_clips for c in trainer.callbacks if c is not self and hasattr(c, "forget_clips")]
        self.samples_left = self.logged_samples
        datamodule = trainer.datamodule
        if isinstance(getattr(datamodule, "items", None), list) and hasattr(pl_module, "clip_settings"):
            self.plan = self._plan_on_rank_zero(trainer, datamodule.items, pl_module)
            datamodule.items = self.plan.to_render
            # after its own list, the loader asks for the clips other runs held when this one came by
            datamodule.more_batches = self.leftover_batches
            if trainer.is_global_zero:
                log.info(self.plan.summary(self.directory))

    def _plan_on_rank_zero(self, trainer: Any, items: list[dict], pl_module: Any) -> ResumePlan:
        """Rank 0 reads the folder and prepares it; every rank gets the same plan, so the sampler splits
        the same list everywhere (ranks scanning on their own could see another's clips appear)."""
        def decide() -> ResumePlan:
            plan = plan_resume(self.directory, items, pl_module.clip_settings(), pl_module.negative_prompt,
                               self.overwrite)
            self._repair()
            return plan

        return decided_on_rank_zero(trainer, decide)

    def _repair(self) -> None:
        """What killed runs, older versions and damage left: temporaries of the run's files, lines that are not
        clip records (moved into ``<file>.damaged``), several lines per clip."""
        remove_stale_run_temporaries(self.directory)
        for name in (METRICS_FILE, FAILURES_FILE):
            set_aside_damaged_lines(self.directory / name)
            deduplicate_lines(self.directory / name)

    def _forget(self, trainer: Any, ids: list[str]) -> None:
        """Drop what earlier runs recorded about clips this run has just claimed: their outcome is decided
        anew (done per claim, not at the start: another run may be finishing them until then)."""
        remove_stale_temporaries(self.directory, ids)
        drop_lines(self.directory / FAILURES_FILE, ids)
        for callback in trainer.callbacks:
            if callback is not self and hasattr(callback, "forget_clips"):
                callback.forget_clips(ids)

    # ---- claims: any number of runs into one folder ----------------------------------------------
    def on_predict_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                               dataloader_idx: int = 0) -> None:
        """Keep in the batch only the clips this run could claim (the step renders the batch it is given)."""
        if self.plan is None or not isinstance(batch, list):
            return
        replacing = set(self.plan.replaced)
        claimed = []
        for item in batch:
            if self.claims.claim(item["id"], even_if_complete=item["id"] in replacing):
                claimed.append(item)
            elif self.claims.state(item["id"]) is ClaimState.COMPLETE:
                self.elsewhere["complete"] += 1
            else:
                self.deferred[item["id"]] = item
        if claimed:
            self._forget(trainer, [item["id"] for item in claimed])
        self.skipped_on_rank += len(batch) - len(claimed)
        batch[:] = claimed

    def leftover_batches(self) -> Iterator[list[dict[str, Any]]]:
        """Batches of one clip each, for the clips another run was rendering when this one came by and
        whose run has since died or stopped; with ``wait_for_others``, waits until the others are finished."""
        while self.deferred:
            for clip_id, item in list(self.deferred.items()):
                state = self.claims.state(clip_id)
                if state is ClaimState.HELD:
                    continue
                del self.deferred[clip_id]
                if state is ClaimState.STALE:
                    self.skipped_on_rank -= 1
                    yield [item]  # taken over at its batch start
                elif state is ClaimState.COMPLETE:
                    self.elsewhere["complete"] += 1
                elif clip_id in read_lines(self.directory / FAILURES_FILE):  # released as failed by its run
                    self.elsewhere["failed"] += 1
                else:  # released unfinished (its run was stopped): this run renders it
                    self.skipped_on_rank -= 1
                    yield [item]
            if self.deferred:
                if not self.wait_for_others:
                    return
                time.sleep(CLAIM_POLL_SECONDS)

    # ---- per batch ------------------------------------------------------------------------------
    def write_on_batch_end(self, trainer: Any, pl_module: Any, prediction: list[dict], batch_indices: Any,
                           batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        for clip in prediction:
            self.work.submit(self.write_clip, clip, pl_module)
        if self.disk_full is not None:
            self.work.drain()  # the clips in flight get their failure records too, where they fit
            failed = self.failed_on_rank
            raise RunStopped(f"the disk of {self.directory} is full ({self.disk_full.strerror}): {failed} "
                             f"clip{'s' if failed != 1 else ''} could not be written; free some space")

    def write_clip(self, clip: dict[str, Any], pl_module: Any) -> Path | None:
        """Write one clip, or record why it failed; never raises, so one clip cannot stop the run."""
        item = clip["item"]
        reason = clip.get("failure")
        if reason is None:
            try:
                path = self._write(clip, pl_module)
            except Exception as error:
                reason = f"writing failed: {type(error).__name__}: {error}"
                self.disk_full = self.disk_full or disk_full(error)
                self._remove_traces(clip)
            else:
                if self.sample_loggers and self.samples_left > 0:
                    self.samples_left -= 1
                    log_sample(self.sample_loggers, item["id"], clip["frames"], path, clip.get("media") != "image")
                self.written_on_rank += 1
                self.claims.release(item["id"])
                return path
        self.failed_on_rank += 1
        log.warning("clip %s failed: %s", item["id"], reason)
        try:
            append_line(self.directory / FAILURES_FILE, {"id": item["id"], "prompt": item["prompt"],
                                                         "seed": item["seed"], "reason": reason})
        except OSError as error:  # it has no JSON, so it is not complete and the next run renders it
            log.error("clip %s failed and its failure could not be recorded in %s: %s", item["id"],
                      self.directory / FAILURES_FILE, error)
            self.disk_full = self.disk_full or disk_full(error)
        self.claims.release(item["id"])
        return None

    def _remove_traces(self, clip: dict[str, Any]) -> None:
        """A clip that failed leaves nothing of itself: its media file, its scale-map pictures (files first:
        on a full disk they free the space the rewrite of the records needs), its metric line."""
        clip_id = clip["item"]["id"]
        if isinstance(clip.get("metrics"), Future):  # its line is appended when scoring ends: wait for it
            try:
                clip["metrics"].result()
            except Exception:
                pass
        pictures = clip.get("scale_map_files") or {}
        names = [f"{clip_id}{MEDIA_FILES[clip.get('media', 'video')]}"]
        names += [pictures[tag] for tag in PICTURE_TAGS if isinstance(pictures.get(tag), str)]
        for name in names:
            path = self.directory / name
            try:
                if path.is_file() and path.parent.resolve() == self.directory.resolve():
                    path.unlink()
            except OSError as error:
                log.error("clip %s failed and %s could not be removed: %s", clip_id, path, error)
        for forget in self.forgetters:
            try:
                forget([clip_id])
            except OSError as error:  # the next run that renders the clip drops the line
                log.error("clip %s failed and its records could not be updated: %s", clip_id, error)

    def _write(self, clip: dict[str, Any], pl_module: Any) -> Path:
        directory, item, frames = self.directory, clip["item"], clip["frames"]
        media = clip.get("media", "video")
        media_path = directory / f"{item['id']}{MEDIA_FILES[media]}"
        if media_path.resolve().parent != directory.resolve():  # ids are slugs; this is a last guard
            raise ValueError(f"clip id {item['id']!r} would leave {directory}")
        metrics = clip.get("metrics")
        if isinstance(metrics, Future):
            metrics = metrics.result()  # raises when scoring failed: the clip is not written
        json_path = directory / f"{item['id']}.json"
        if json_path.exists():  # replacing a clip: until its new JSON exists it must not look complete
            os.unlink(json_path)
        if media == "image":
            write_png(media_path, frames[0])
            file_record = {"format": "png", "lossless": True}
        else:
            write_mp4(media_path, frames, clip["fps"], lossless=self.lossless, crf=self.crf)
            file_record = {"codec": "libx264rgb" if self.lossless else "libx264", "lossless": self.lossless}
        metadata = {
            "id": item["id"],
            "prompt": item["prompt"],
            "negative_prompt": item["negative_prompt"] or pl_module.negative_prompt,
            "seed": item["seed"],
            "num_frames": int(frames.shape[0]),
            "height": int(frames.shape[1]),
            "width": int(frames.shape[2]),
            "fps": clip["fps"],
            "model": clip.get("model") or pl_module.describe(),
            "guidance": clip.get("guidance") or pl_module.guidance.describe(),
            "guidance_statistics": clip.get("guidance_statistics"),
            media: {"file": media_path.name, "bytes": media_path.stat().st_size, "sha256": file_sha256(media_path),
                    **file_record},
        }
        if metrics is not None:
            metadata["metrics"] = metrics
        if clip.get("safety_checker_flagged") is not None:
            metadata["safety_checker_flagged"] = clip["safety_checker_flagged"]
        if clip.get("scale_map_files") is not None:  # written by ScaleMapWriter before this JSON
            metadata["scale_map"] = clip["scale_map_files"]
        write_json(json_path, metadata)  # last: its presence marks the clip complete
        return media_path

    # ---- end of the run -------------------------------------------------------------------------
    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self.work.drain()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.work is not None:  # keep what was rendered: finish writing the clips in flight
            try:
                self.work.drain()
            except Exception as error:
                log.error("writing the remaining clips failed: %s", error)
        if self.claims is not None:  # the clips this run will not finish are free for the next run at once
            self.claims.release_all()

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Called on every rank after a run that did not crash, also on ranks that had no clip to render
        (they skip ``on_predict_end``): the place for collectives."""
        if self.work is None:
            return
        self.work.drain()
        self.work.close()
        self.work = None
        self.claims.release_all()
        counts = torch.tensor([self.failed_on_rank, self.written_on_rank, self.elsewhere["complete"],
                               self.elsewhere["failed"], len(self.deferred)], device=trainer.strategy.root_device)
        self.totals = dict(zip(TOTALS, (int(n) for n in trainer.strategy.reduce(counts, reduce_op="sum"))))
        self.failed_clips = self.totals["failed"]

    def account(self) -> tuple[bool, str]:
        """Whether some clips failed, and the run's last line."""
        complete = len(self.plan.complete) if self.plan is not None else 0
        totals = self.totals or dict.fromkeys(TOTALS, 0)
        failed, rendered = totals["failed"], totals["written"]
        notes = [f"{complete} already complete"] if complete else []
        if totals["elsewhere"]:
            notes.append(f"{totals['elsewhere']} rendered by other runs into the same folder")
        if totals["failed_elsewhere"]:
            notes.append(f"{totals['failed_elsewhere']} failed in other runs")
        others = "".join(f", {note}" for note in notes)
        still = (f"; {totals['still_elsewhere']} are still being rendered by other runs (--wait_for_others waits for "
                 "them, so that the summary covers every clip)" if totals["still_elsewhere"] else "")
        if failed:
            return True, (f"{failed} of {failed + rendered} clips failed; see {self.directory / FAILURES_FILE} "
                          f"(re-running the same command retries them); {rendered} rendered{others}, in "
                          f"{self.directory}{still}")
        if not rendered and not totals["elsewhere"] and not totals["still_elsewhere"]:
            return False, f"done: nothing to render, all {complete} clips are complete in {self.directory}"
        return False, f"done: {rendered} clips rendered, none failed{others}; outputs in {self.directory}{still}"
