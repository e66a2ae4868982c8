"""The LightningModule of evaluation runs: passes decoded clips on to the metrics callback.

It has no weights; Lightning's predict loop gives evaluation the same distribution over devices,
progress and callbacks as rendering.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import LightningModule


class ClipEvaluator(LightningModule):
    """Scores existing clips (from ``datamodules.videos.VideoFolderDataModule``) with ``ClipMetrics``."""

    progress_label = "Scoring clips"

    def predict_step(self, batch: list[dict[str, Any]], batch_idx: int, dataloader_idx: int = 0) -> list[dict]:
        return batch

    def describe(self) -> dict[str, Any]:
        return {"task": "evaluate existing clips"}
