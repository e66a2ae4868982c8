"""Progress shown while rendering: one bar over clips, on global rank 0 only."""

from __future__ import annotations

import sys
from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm


class ClipProgressBar(TQDMProgressBar):
    """Lightning's predict bar counted in clips instead of batches.

    Lightning already hides progress bars on ranks other than 0; the per-step denoising bar of the
    pipeline is likewise shown on rank 0 only and cleared after each batch.
    """

    def init_predict_tqdm(self) -> Tqdm:
        # made when the clips of this rank are known, so no "Predicting: 0/?" bar comes first
        trainer = self.trainer
        suffix = f" (rank 0 of {trainer.world_size})" if trainer.world_size > 1 else ""
        label = getattr(trainer.lightning_module, "progress_label", "Rendering clips")
        total = _clips_on_this_rank(trainer)
        return Tqdm(desc=f"{label}{suffix}", total=total, unit="clip", position=2 * self.process_position,
                    disable=self.is_disabled or total == 0, leave=True, dynamic_ncols=True,
                    file=sys.stdout, smoothing=0, bar_format=self.BAR_FORMAT)

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        super().on_predict_start(trainer, pl_module)
        self._clips_done = 0

    def on_predict_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                               dataloader_idx: int = 0) -> None:
        pass  # Lightning's would reset the bar to batches

    def on_predict_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        self._clips_done += len(batch)
        # clips that other runs into the same folder rendered count as done here too
        elsewhere = sum(getattr(callback, "skipped_on_rank", 0) for callback in trainer.callbacks)
        bar = self.predict_progress_bar
        if not bar.disable:
            bar.n = min(self._clips_done + elsewhere, bar.total or float("inf"))
            bar.refresh()


def _clips_on_this_rank(trainer: Any) -> int | None:
    """Clips this rank will see: a dataset of batches (lists of clips) counts their clips."""
    loaders = trainer.predict_dataloaders
    loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
    if loader is None:
        return None
    if hasattr(loader.dataset, "clip_count"):  # a stream of batches
        return loader.dataset.clip_count
    sampler = getattr(getattr(loader, "batch_sampler", None), "sampler", None) or getattr(loader, "sampler", None)
    try:
        indices = list(sampler)
    except TypeError:
        return None
    dataset = loader.dataset
    if isinstance(dataset, list):
        return sum(len(dataset[i]) if isinstance(dataset[i], list) else 1 for i in indices)
    return len(indices)
