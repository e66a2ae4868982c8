"""Writing and reading clips with PyAV (FFmpeg), written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

# mkstemp creates files readable by the owner only; finished files get the usual umask-based mode
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed over it only when the block succeeds.

    The temporary name keeps the suffix (encoders pick the container from it) and starts with a dot,
    so a crash leaves no file that could be taken for a finished clip.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(handle)
    os.chmod(temporary, FILE_MODE)
    try:
        yield Path(temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, ensure_ascii=False, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())


def write_mp4(path: Path, frames: np.ndarray, fps: int, lossless: bool = False, crf: int = 18) -> None:
    """Encode ``(F, H, W, 3)`` uint8 RGB frames as H.264 at their own size (never resized).

    ``lossless`` uses libx264rgb with crf 0: RGB in, the same RGB out, for metric-grade files.
    Otherwise yuv420p (most compatible), or yuv444p when a side is odd, which 4:2:0 cannot hold.
    """
    import av

    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 of shape (F, H, W, 3), got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if lossless:
        codec, pixel_format, options = "libx264rgb", "rgb24", {"crf": "0", "preset": "veryfast"}
    else:
        pixel_format = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
        codec, options = "libx264", {"crf": str(crf), "preset": "medium"}
    with atomic_path(path) as temporary:
        with av.open(str(temporary), mode="w") as container:
            stream = container.add_stream(codec, rate=fps, options=options)
            stream.width, stream.height, stream.pix_fmt = width, height, pixel_format
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())


def read_video(path: Path) -> np.ndarray:
    """Decode every frame of a clip to ``(F, H, W, 3)`` uint8 RGB."""
    import av

    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
