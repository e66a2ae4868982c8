"""Progress shown while rendering: one bar over clips, on global rank 0 only."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar


class ClipProgressBar(TQDMProgressBar):
    """Lightning's predict bar counted in clips instead of batches.

    Lightning already hides progress bars on ranks other than 0; the per-step denoising bar of the
    pipeline is likewise shown on rank 0 only and cleared after each batch.
    """

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        super().on_predict_start(trainer, pl_module)
        self._clips_done = 0

    def on_predict_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                               dataloader_idx: int = 0) -> None:
        changed = self.has_dataloader_changed(dataloader_idx)
        super().on_predict_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)
        if changed or batch_idx == 0:
            bar = self.predict_progress_bar
            bar.total = _clips_on_this_rank(trainer, dataloader_idx) or bar.total
            suffix = f" (rank 0 of {trainer.world_size})" if trainer.world_size > 1 else ""
            bar.set_description(f"{getattr(pl_module, 'progress_label', 'Rendering clips')}{suffix}")

    def on_predict_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        self._clips_done += len(batch)
        bar = self.predict_progress_bar
        if not bar.disable:
            bar.n = self._clips_done
            bar.refresh()


def _clips_on_this_rank(trainer: Any, dataloader_idx: int) -> int | None:
    loaders = trainer.predict_dataloaders
    loader = loaders[dataloader_idx] if isinstance(loaders, (list, tuple)) else loaders
    sampler = getattr(getattr(loader, "batch_sampler", None), "sampler", None) or getattr(loader, "sampler", None)
    try:
        return len(sampler)
    except TypeError:
        return None
