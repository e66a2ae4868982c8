"""Callback that scores every clip of a run (temporal consistency, colour and exposure) and writes the run's
metric files:

- ``<output_dir>/metrics.jsonl``: one line per clip, appended as each clip is scored;
- ``<output_dir>/summary.json`` and ``summary.csv``: per metric mean, standard deviation and count,
  written once at the end of the run from every rank's lines, with the number of failed clips;
- ``<output_dir>/errors.jsonl``: clips that could not be read (evaluation runs), with the reason.

When the trainer has loggers (TensorBoard, CSV, W&B), every clip's metrics (``clip/<metric>``, one step
per clip) and the summary (``summary/<metric>_mean``, ...) are logged to them at the end of the run.

When rendering, the metrics are computed on the in-memory frames, before encoding, and also go into
each clip's JSON under ``metrics`` (``ClipWriter`` waits for them).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

from samg_video.callbacks.background import BackgroundWork
from samg_video.callbacks.loggers import log_clip_metrics, log_summary
from samg_video.callbacks.rank_zero import decided_on_rank_zero
from samg_video.errors import ConfigurationError
from samg_video.files.media import atomic_path, write_json
from samg_video.files.records import (
    append_line,
    count_damaged_lines,
    drop_lines,
    locked,
    read_lines,
    remove_stale_run_temporaries,
    set_aside_damaged_lines,
)
from samg_video.files.run_files import ERRORS_FILE, FAILURES_FILE, METRICS_FILE, SUMMARY_CSV, SUMMARY_JSON
from samg_video.metrics.clip_score import DEFAULT_CLIP_MODEL
from samg_video.metrics.statistics import summarize_records
from samg_video.metrics.suite import DEFAULT_METRICS, MetricSuite, check_metric_options

log = logging.getLogger(__name__)

IDENTITY_FIELDS = ("id", "prompt", "negative_prompt", "seed", "source")


class ClipMetrics(Callback):
    """Metrics of every clip: VBench flicker, Lai et al.'s warping error, temporal LPIPS; saturation, colourfulness.

    Args:
        metrics: which to compute: any of ``flicker``, ``warping_error``, ``temporal_lpips`` (temporal: null
            for images), ``clip_score`` (prompt alignment), ``saturation``, ``colorfulness``,
            ``clipped_fraction`` (per frame); for the toy model's clips, the synthetic world's ground truth:
            ``world_adherence``, ``world_all_correct``, ``world_colour``, ``world_shape``, ``world_motion``,
            ``world_binding``, ``world_background``, ``palette_overshoot``, ``texture_fidelity``,
            ``texture_fidelity_fine``, ``texture_fidelity_coarse``.
        flow_backend: optical flow for the warping error: ``dis`` (OpenCV DIS, default, no weights),
            ``farneback``, ``raft_large`` or ``raft_small`` (torchvision RAFT, local weights needed).
        dis_preset: DIS speed/accuracy: ``ultrafast``, ``fast`` or ``medium``.
        raft_weights: torchvision RAFT weights file; unset, the torch hub cache.
        lpips_net: LPIPS trunk: ``alex``, ``vgg`` or ``squeeze``.
        lpips_weights: torchvision ImageNet weights of the LPIPS trunk; unset, the torch hub cache.
            Without them temporal LPIPS is null, with the reason (one warning, no failure).
        clip_model: the CLIP model of ``clip_score``: a hub id (default ``openai/clip-vit-large-patch14``, read
            from the Hugging Face cache) or a local directory, safetensors. Without it ``clip_score`` is null,
            with the reason (one warning). The text is the clip's prompt.
        clip_every_k_frames: CLIP-score frames ``0, k, 2k, ...`` only (1: every frame).
        lpips_random_trunk_seed: tests only: a seeded random LPIPS trunk; the values are meaningless.
        output_dir: where the metric files go; unset, the run's ``--output_dir``.
        background: score on a worker thread so that the accelerator renders the next batch meanwhile;
            unset, on when the run uses an accelerator other than the CPU.
    """

    def __init__(self, metrics: list[str] = list(DEFAULT_METRICS), flow_backend: str = "dis",
                 dis_preset: str = "medium", raft_weights: str | None = None, lpips_net: str = "alex",
                 lpips_weights: str | None = None, lpips_random_trunk_seed: int | None = None,
                 clip_model: str = DEFAULT_CLIP_MODEL, clip_every_k_frames: int = 1,
                 output_dir: str | None = None, background: bool | None = None):
        check_metric_options(list(metrics), flow_backend, dis_preset, raft_weights, lpips_net, lpips_weights,
                             clip_model, clip_every_k_frames)
        self.options = dict(metrics=list(metrics), flow_backend=flow_backend, dis_preset=dis_preset,
                            raft_weights=raft_weights, lpips_net=lpips_net, lpips_weights=lpips_weights,
                            lpips_random_trunk_seed=lpips_random_trunk_seed, clip_model=clip_model,
                            clip_every_k_frames=clip_every_k_frames)
        self.output_dir = output_dir
        self.background = background
        self.suite: MetricSuite | None = None
        self.work: BackgroundWork | None = None
        self.scored_on_rank = self.unreadable_on_rank = 0
        self.scored_clips = self.unreadable_clips = 0
        self.overwrite = False  # evaluation runs: score again clips already scored in the folder (--overwrite)
        self.already_scored = 0

    # ---- lifecycle -----------------------------------------------------------------------------
    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        from samg_video.callbacks.clip_writer import ClipWriter

        self.scored_on_rank = self.unreadable_on_rank = 0
        position = trainer.callbacks.index(self)
        writers = [i for i, callback in enumerate(trainer.callbacks) if isinstance(callback, ClipWriter)]
        if any(i < position for i in writers):
            raise ConfigurationError("trainer.callbacks: list samg_video.callbacks.ClipMetrics before "
                                     "samg_video.callbacks.ClipWriter, so that each clip's JSON gets its metrics")
        self.directory = Path(self.output_dir or trainer.default_root_dir)
        scored_dir = getattr(trainer.datamodule, "clips_dir", None)
        if scored_dir is not None and Path(scored_dir).resolve() == self.directory.resolve():
            # its metrics.jsonl may be a rendering run's: the two runs' lines would mix in one summary
            raise ConfigurationError(f"--output_dir {self.directory} is the folder being scored (data.clips_dir); "
                                     f"write the evaluation elsewhere, e.g. --output_dir {self.directory}/evaluation")
        self.already_scored = 0
        datamodule = getattr(trainer, "datamodule", None)
        if not writers and hasattr(datamodule, "clip_sources"):  # an evaluation run: it resumes
            done = self._resume_on_rank_zero(trainer, datamodule.clip_sources())
            datamodule.skip_clips(done)
            self.already_scored = len(done)
        device = trainer.strategy.root_device
        family = getattr(pl_module, "family", None)
        if self.suite is None:
            # image runs get the per-frame metrics; the temporal ones are null with the reason, and no flow
            # method or LPIPS network is loaded for them
            self.suite = MetricSuite(**self.options, device=device,
                                     images_only=getattr(family, "media", "video") == "image")
        background = device.type != "cpu" if self.background is None else self.background
        # with a writer, a clip whose scoring fails is that writer's to record as failed; without one it stops the run
        self.work = BackgroundWork("clip-metrics", enabled=background, reraise=not writers)

    def _resume_on_rank_zero(self, trainer: Any, sources: dict[str, str]) -> set[str]:
        """The clips of this evaluation already scored in the folder, with every metric of this run, from the same
        file; the lines of the others are dropped (each clip keeps one line). Rank 0 decides, every rank gets it."""
        def decide() -> set[str]:
            remove_stale_run_temporaries(self.directory)  # a rendering run's writer does this itself
            for name in (METRICS_FILE, ERRORS_FILE):
                set_aside_damaged_lines(self.directory / name)
            scored = read_lines(self.directory / METRICS_FILE)
            done = set() if self.overwrite else {
                clip_id for clip_id, source in sources.items() if clip_id in scored
                and scored[clip_id].get("source") == source and all(m in scored[clip_id]
                                                                     for m in self.options["metrics"])}
            again = [clip_id for clip_id in sources if clip_id not in done]
            drop_lines(self.directory / METRICS_FILE, again)
            drop_lines(self.directory / ERRORS_FILE, again)
            if done:
                log.info("resuming: %d of %d clips are scored in %s already; scoring the other %d",
                         len(done), len(sources), self.directory, len(again))
            return done

        return decided_on_rank_zero(trainer, decide)

    def forget_clips(self, ids: list[str]) -> None:
        """Drop the lines of clips about to be rendered again, so each clip keeps one line (the writer
        calls this on rank 0 before any rank renders)."""
        drop_lines(self.directory / METRICS_FILE, ids)

    def on_predict_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        for clip in outputs or []:
            if clip.get("failure"):  # rendering failed (the writer records it): nothing to score
                continue
            if clip.get("error"):
                self.unreadable_on_rank += 1
                self.work.submit(self._record_error, clip)
            else:
                self.scored_on_rank += 1
                clip["metrics"] = self.work.submit(self._score, clip)

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self.work.drain()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        # keep what was already rendered: finish scoring the clips in flight
        if self.work is not None:
            try:
                self.work.drain()
            except Exception as error:  # the run is failing already; report, do not mask the cause
                log.error("scoring the remaining clips failed: %s", error)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Called on every rank after a run that did not crash, also on ranks that had no clip (they skip
        ``on_predict_end``): the summary is written here, once every rank's lines are in."""
        if self.work is None:
            return
        self.work.drain()
        self.work.close()
        self.work = None
        counts = torch.tensor([self.scored_on_rank, self.unreadable_on_rank], device=trainer.strategy.root_device)
        self.scored_clips, self.unreadable_clips = (int(n) for n in trainer.strategy.reduce(counts, reduce_op="sum"))
        trainer.strategy.barrier()  # every rank has drained its scoring and writing before
        if trainer.is_global_zero:
            # from the files, so that every rank's clips count (and reach the loggers, which live on rank 0)
            records, failures = run_records(self.directory)
            summary = self.write_summary(self.directory, records, failures)
            if trainer.loggers:
                log_clip_metrics(trainer.loggers, list(records.values()), self.options["metrics"])
                log_summary(trainer.loggers, summary)

    def account(self) -> tuple[bool, str]:
        """Whether some clips of an evaluation run could not be read, and the run's last line."""
        summary = self.directory / SUMMARY_JSON
        before = f", {self.already_scored} scored before" if self.already_scored else ""
        if self.unreadable_clips:
            return True, (f"{self.unreadable_clips} of {self.scored_clips + self.unreadable_clips} clips could not be "
                          f"read; see {self.directory / ERRORS_FILE}; {self.scored_clips} scored{before}, summary in "
                          f"{summary}")
        if not self.scored_clips and self.already_scored:
            return False, f"done: nothing to score, all {self.already_scored} clips are scored; summary in {summary}"
        return False, f"done: {self.scored_clips} clips scored{before}; summary in {summary}"

    # ---- per clip (on the worker thread when in the background) --------------------------------
    def _score(self, clip: dict[str, Any]) -> dict[str, Any]:
        frames = clip["frames"]
        metrics = self.suite(frames, (clip.get("item") or {}).get("prompt"))
        line = {**_identity(clip), "num_frames": int(frames.shape[0]), "height": int(frames.shape[1]),
                "width": int(frames.shape[2]), "fps": clip.get("fps"), **metrics,
                "frames": clip.get("frames_origin"), "model": clip.get("model"), "guidance": clip.get("guidance")}
        append_line(self.directory / METRICS_FILE, line)
        return metrics

    def _record_error(self, clip: dict[str, Any]) -> None:
        append_line(self.directory / ERRORS_FILE, {**_identity(clip), "reason": clip["error"]})

    # ---- end of run ----------------------------------------------------------------------------
    def write_summary(self, directory: Path, records: dict[str, Any], failures: dict[str, Any]) -> dict[str, Any]:
        """``summary.json`` and ``summary.csv`` from the folder's records (see :func:`run_records`)."""
        errors = [e for i, e in read_lines(directory / ERRORS_FILE).items() if i not in records]
        summary = summarize_records(list(records.values()))
        summary["failures"] = len(failures)
        summary["errors"] = len(errors)
        # lines of the record files that were not clip records: skipped by every reader, or set aside
        damaged = {name: count_damaged_lines(directory / name) for name in (METRICS_FILE, FAILURES_FILE, ERRORS_FILE)}
        summary["damaged_lines"] = {name: count for name, count in damaged.items() if count}
        summary["note"] = ("flicker is reported for every clip; VBench applies it to static-camera clips only. "
                           "std is the sample standard deviation (n - 1).")
        with locked(directory / SUMMARY_JSON):  # shard jobs may finish together
            write_json(directory / SUMMARY_JSON, summary)
            with atomic_path(directory / SUMMARY_CSV) as temporary:
                temporary.write_text(_summary_csv(summary), encoding="utf-8")
        return summary


def run_records(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The metric lines of the folder's clips by id, and its failures by id. A clip that was scored and then
    failed to be written is not part of the run's results."""
    failures = read_lines(directory / FAILURES_FILE)
    return {i: r for i, r in read_lines(directory / METRICS_FILE).items() if i not in failures}, failures


def _identity(clip: dict[str, Any]) -> dict[str, Any]:
    item = clip.get("item") or {}
    return {name: item[name] for name in IDENTITY_FIELDS if name in item}


def _summary_csv(summary: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["metric", "mean", "std", "count", "null_count", "flow_backend", "model", "guidance"])
    for name, values in summary["metrics"].items():
        writer.writerow([name, values["mean"], values["std"], values["count"], values["null_count"],
                         summary["flow_backend"] if name == "warping_error" else "",
                         _compact(summary["model"]), _compact(summary["guidance"])])
    return buffer.getvalue()


def _compact(value: Any) -> str:
    if value is None or isinstance(value, str):  # "unknown", "mixed" and names are written as they are
        return value or ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
