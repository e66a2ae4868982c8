"""Callback that writes each rendered clip as ``<output_dir>/<clip_id>.mp4`` plus its JSON metadata."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from concurrent.futures import Future

from lightning.pytorch.callbacks import BasePredictionWriter

from samg_video.background import BackgroundWork
from samg_video.errors import ConfigurationError
from samg_video.video_io import write_json, write_mp4

log = logging.getLogger(__name__)


class ClipWriter(BasePredictionWriter):
    """Writes clips and metadata as each batch finishes, atomically (temporary file, then rename).

    The JSON is written after the mp4 and records its size and SHA-256, so a clip is complete exactly
    when its JSON exists and matches the mp4. When ``ClipMetrics`` runs (listed before this callback),
    the JSON also holds the clip's metrics under ``metrics``.

    Args:
        output_dir: where clips go; unset, the run's ``--output_dir``.
        lossless: encode losslessly (libx264rgb, crf 0) for metric-grade files; larger.
        crf: H.264 quality when not lossless (lower is better; 18 is visually lossless).
        background: encode and write on a worker thread while the accelerator renders the next batch;
            unset, on when the run uses an accelerator other than the CPU.
    """

    def __init__(self, output_dir: str | None = None, lossless: bool = False, crf: int = 18,
                 background: bool | None = None):
        super().__init__(write_interval="batch")
        if not isinstance(crf, int) or not 0 <= crf <= 51:
            raise ConfigurationError(f"ClipWriter crf={crf!r} is not valid; it must be a whole number in [0, 51]")
        self.output_dir = output_dir
        self.lossless = lossless
        self.crf = crf
        self.background = background
        self.work: BackgroundWork | None = None

    def resolve_dir(self, trainer: Any) -> Path:
        return Path(self.output_dir or trainer.default_root_dir)

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        background = trainer.strategy.root_device.type != "cpu" if self.background is None else self.background
        self.work = BackgroundWork("clip-writer", enabled=background)

    def write_on_batch_end(self, trainer: Any, pl_module: Any, prediction: list[dict], batch_indices: Any,
                           batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        directory = self.resolve_dir(trainer)
        if self.work is None:
            self.setup(trainer, pl_module, "predict")
        for clip in prediction:
            self.work.submit(self.write_clip, directory, clip, pl_module)

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self.work.drain()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.work is not None:  # keep what was rendered: finish writing the clips in flight
            try:
                self.work.drain()
            except Exception as error:
                log.error("writing the remaining clips failed: %s", error)

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.work is not None:
            self.work.close()
            self.work = None

    def write_clip(self, directory: Path, clip: dict[str, Any], pl_module: Any) -> Path:
        item, frames = clip["item"], clip["frames"]
        video_path = directory / f"{item['id']}.mp4"
        if video_path.resolve().parent != directory.resolve():  # ids are slugs; this is a last guard
            raise ValueError(f"clip id {item['id']!r} would leave {directory}")
        write_mp4(video_path, frames, clip["fps"], lossless=self.lossless, crf=self.crf)
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
            "video": {"file": video_path.name, "bytes": video_path.stat().st_size,
                      "sha256": _sha256(video_path), "codec": "libx264rgb" if self.lossless else "libx264",
                      "lossless": self.lossless},
        }
        metrics = clip.get("metrics")
        if metrics is not None:
            metadata["metrics"] = metrics.result() if isinstance(metrics, Future) else metrics
        write_json(directory / f"{item['id']}.json", metadata)  # last: its presence marks the clip complete
        return video_path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
