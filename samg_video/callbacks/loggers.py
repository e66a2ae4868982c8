"""Sending a run's results to the Lightning loggers the user configured (TensorBoard, CSV, W&B, ...).

The callbacks call these on rank 0; with no logger configured they do nothing. Numbers go through the
generic ``log_metrics``; pictures through each logger's own media API where it has one (CSV has none).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_FRAMES = 4  # frames of a clip shown side by side where a logger takes images, not videos


def log_clip_metrics(loggers: list[Any], records: list[dict[str, Any]], metric_names: list[str]) -> None:
    """One step per clip, in the order of ``records``: ``clip/<metric>`` for every metric with a value."""
    for step, record in enumerate(records):
        values = {f"clip/{name}": float(record[name]) for name in metric_names if record.get(name) is not None}
        if values:
            for logger in loggers:
                logger.log_metrics(values, step=step)


def log_summary(loggers: list[Any], summary: dict[str, Any]) -> None:
    """``summary/<metric>_mean`` and ``_std`` of every metric, and the clip and failure counts."""
    values = {"summary/clips": float(summary.get("clips", 0)), "summary/failures": float(summary.get("failures", 0))}
    for name, statistics in summary.get("metrics", {}).items():
        for statistic in ("mean", "std"):
            if statistics.get(statistic) is not None:
                values[f"summary/{name}_{statistic}"] = float(statistics[statistic])
    for logger in loggers:
        logger.log_metrics(values, step=0)
        logger.save()


def frame_strip(frames: np.ndarray, count: int = SAMPLE_FRAMES) -> np.ndarray:
    """Up to ``count`` evenly spaced frames of ``(F, H, W, 3)`` side by side: ``(H, count * W, 3)``."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int))
    return np.concatenate(list(frames[picks]), axis=1)


def log_sample(loggers: list[Any], clip_id: str, frames: np.ndarray, media_path: Path, is_video: bool) -> None:
    """One rendered clip: the video file where the logger takes videos (W&B), else a strip of frames."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    for logger in loggers:
        try:
            if isinstance(logger, WandbLogger):
                if is_video:
                    logger.log_video(key="samples", videos=[str(media_path)], caption=[clip_id])
                else:
                    logger.log_image(key="samples", images=[frames[0]], caption=[clip_id])
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(f"samples/{clip_id}", frame_strip(frames), dataformats="HWC")
        except Exception as error:  # a logger's media problem must not cost the clip
            log.warning("could not log sample %s to %s: %s: %s", clip_id, type(logger).__name__,
                        type(error).__name__, error)
