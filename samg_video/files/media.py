"""Writing and reading clips with PyAV (FFmpeg), written atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from samg_video.files.json_text import json_text

# file-name tags of the scale-map pictures beside a clip (``<id>.scale_map.mp4``, ``<id>.side_by_side.mp4``);
# evaluation runs do not take these files for clips
PICTURE_TAGS = ("scale_map", "side_by_side")


def is_scale_map_picture(path: Path) -> bool:
    return path.stem.rsplit(".", 1)[-1] in PICTURE_TAGS and "." in path.stem


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
            f.write(json_text(data, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())


def write_mp4(path: Path, frames: np.ndarray, fps: int, lossless: bool = False, crf: int = 18) -> None:
    """Encode ``(F, H, W, 3)`` uint8 RGB frames as H.264 at their own size (never resized); the same frames
    give the same bytes on every run.

    ``lossless`` uses libx264rgb with crf 0: RGB in, the same RGB out, for metric-grade files.
    Otherwise yuv420p (most compatible), or yuv444p when a side is odd, which 4:2:0 cannot hold.
    """
    import av

    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 of shape (F, H, W, 3), got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    # x264 lets each run pick among algorithms that round differently (measured here: the same frames gave
    # another file, decoding up to 32 levels apart, in 23 of 25 encodes); cpu-independent fixes the choice
    # and cost no measurable time on a 49-frame 480x720 clip
    reproducible = {"x264-params": "cpu-independent=1"}
    if lossless:
        codec, pixel_format, options = "libx264rgb", "rgb24", {"crf": "0", "preset": "veryfast", **reproducible}
    else:
        pixel_format = "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
        codec, options = "libx264", {"crf": str(crf), "preset": "medium", **reproducible}
    with atomic_path(path) as temporary:
        with av.open(str(temporary), mode="w") as container:
            stream = container.add_stream(codec, rate=fps, options=options)
            stream.width, stream.height, stream.pix_fmt = width, height, pixel_format
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())


def write_png(path: Path, image: np.ndarray) -> None:
    """Write one ``(H, W, 3)`` uint8 RGB image as a lossless PNG."""
    from PIL import Image

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be uint8 of shape (H, W, 3), got {image.dtype} {image.shape}")
    with atomic_path(path) as temporary:
        Image.fromarray(image, mode="RGB").save(temporary, format="PNG")


def read_video(path: Path) -> np.ndarray:
    """Decode every frame of a clip to ``(F, H, W, 3)`` uint8 RGB."""
    import av

    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


class DecodeError(RuntimeError):
    """A file that is not a readable video: empty, truncated, or another format."""


def decode_clip(path: Path, num_frames: int | None = None) -> tuple[np.ndarray, float, str]:
    """Frames of a video file as ``(F, H, W, 3)`` uint8 RGB, its frame rate, and how it was read.

    decord first (fast seeking); PyAV when decord fails or returns frames of the wrong shape, which
    decord 0.6 does for some widths. ``num_frames`` picks that many frames evenly spread over the clip.
    """
    import av

    path = Path(path)
    if path.stat().st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DecodeError("no video stream")
            stream = container.streams.video[0]
            codec, height, width = stream.codec_context.name, stream.codec_context.height, stream.codec_context.width
    except av.error.FFmpegError as error:
        raise DecodeError(f"not a readable video ({error.__class__.__name__}: {error})") from None
    try:
        frames, fps = _decode_with_decord(path, num_frames, height, width)
        reader = "decord"
    except Exception:
        frames, fps = _decode_with_pyav(path, num_frames)
        reader = "pyav"
    return frames, fps, f"decoded from {codec} with {reader}"


def pick_frames(total: int, num_frames: int | None) -> np.ndarray:
    """Indices of ``num_frames`` frames evenly spread over ``total`` (all frames when unset)."""
    if num_frames is None or num_frames >= total:
        return np.arange(total)
    return np.round(np.linspace(0, total - 1, num_frames)).astype(np.int64)


def _decode_with_decord(path: Path, num_frames: int | None, height: int, width: int) -> tuple[np.ndarray, float]:
    import decord

    reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
    indices = pick_frames(len(reader), num_frames)
    frames = reader.get_batch(indices.tolist()).asnumpy()
    if frames.shape != (len(indices), height, width, 3) or frames.dtype != np.uint8:
        raise DecodeError(f"decord returned frames of shape {frames.shape}")
    return frames, float(reader.get_avg_fps())


def _decode_with_pyav(path: Path, num_frames: int | None) -> tuple[np.ndarray, float]:
    import av

    frames = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
    except av.error.FFmpegError as error:
        if not frames:
            raise DecodeError(f"no frame could be decoded ({error.__class__.__name__}: {error})") from None
        raise DecodeError(f"decoding stopped after {len(frames)} frames: the file is damaged or truncated "
                          f"({error})") from None
    if not frames:
        raise DecodeError("the video stream holds no frames")
    return np.stack(frames)[pick_frames(len(frames), num_frames)], fps
