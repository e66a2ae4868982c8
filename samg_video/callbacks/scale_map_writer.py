"""Callback that writes, beside each clip, pictures of SAMG's per-voxel guidance scale:

- ``<id>.scale_map.mp4``: the scale averaged over the active sampling steps, upsampled to the frame size,
  coloured over the fixed range ``[w_min, w_max]`` with a legend;
- ``<id>.side_by_side.mp4``: the clip and its scale map next to each other;
- for images, ``<id>.scale_map.png`` and ``<id>.side_by_side.png``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from samg_video.callbacks.scale_map_images import scale_map_pictures
from samg_video.errors import ConfigurationError
from samg_video.files.media import PICTURE_TAGS, write_mp4, write_png

log = logging.getLogger(__name__)

class ScaleMapWriter(Callback):
    """Writes a heatmap and a side-by-side picture of each clip's guidance scale map.

    List it before ``ClipWriter``: the pictures are written before the clip's JSON, which records them,
    so a complete clip has its pictures. Guidance methods without a per-voxel scale (CFG and the
    baselines) have no map: the callback then writes nothing and says so once.

    Args:
        enabled: off, the callback does nothing (so configs can list it switched off).
        output_dir: where the pictures go; unset, the run's ``--output_dir``.
    """

    def __init__(self, enabled: bool = True, output_dir: str | None = None):
        self.enabled = enabled
        self.output_dir = output_dir
        self.active = False

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        from samg_video.callbacks.clip_writer import ClipWriter

        self.active = False
        if not self.enabled:
            return
        position = trainer.callbacks.index(self)
        if any(isinstance(c, ClipWriter) for c in trainer.callbacks[:position]):
            raise ConfigurationError("trainer.callbacks: list samg_video.callbacks.ScaleMapWriter before "
                                     "samg_video.callbacks.ClipWriter, so that each clip's JSON records its scale maps")
        guidance = getattr(pl_module, "guidance", None)
        if guidance is None or not guidance.has_scale_map:
            if trainer.is_global_zero:
                log.warning("ScaleMapWriter: %s has no per-voxel scale map; no scale-map pictures are written",
                            type(guidance).__name__)
            return
        guidance.record_scale_maps(True)
        self.directory = Path(self.output_dir or trainer.default_root_dir)
        self.range = guidance.scale_range()
        self.active = True

    def on_predict_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int,
                             dataloader_idx: int = 0) -> None:
        if not self.active:
            return
        for clip in outputs or []:
            if clip.get("failure") or clip.get("scale_map") is None:
                continue
            try:
                clip["scale_map_files"] = self.write(clip)
            except Exception as error:  # the clip is still good; its JSON then says why the pictures are missing
                clip["scale_map_files"] = {"error": f"{type(error).__name__}: {error}"}

    def write(self, clip: dict[str, Any]) -> dict[str, Any]:
        low, high = self.range
        heatmap, side_by_side = scale_map_pictures(clip["frames"], clip["scale_map"], low, high)
        names = {}
        for tag, pictures in zip(PICTURE_TAGS, (heatmap, side_by_side)):
            if clip.get("media") == "image":
                path = self.directory / f"{clip['item']['id']}.{tag}.png"
                write_png(path, pictures[0])
            else:
                path = self.directory / f"{clip['item']['id']}.{tag}.mp4"
                write_mp4(path, pictures, clip["fps"])
            names[tag] = path.name
        return {**names, "range": [low, high], "averaged_over": "active sampling steps"}

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        guidance = getattr(pl_module, "guidance", None)
        if self.active and guidance is not None:
            guidance.record_scale_maps(False)
        self.active = False
