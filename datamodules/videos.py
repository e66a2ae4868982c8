"""Existing clips in, decoded frames out: the input of evaluation runs.

Every video under a folder (recursively) becomes one item. A clip that cannot be decoded becomes an
item carrying the reason instead of frames, so that the run lists it and goes on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from datamodules.rank_share import rank_share
from samg_video.errors import ConfigurationError
from samg_video.files.media import decode_clip, is_scale_map_picture

VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".avi")


def find_clips(clips_dir: Path, suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> list[Path]:
    """Video files under ``clips_dir``, sorted; hidden files (such as unfinished temporaries) and scale-map
    pictures skipped."""
    return sorted(
        path for path in clips_dir.rglob("*")
        if path.suffix.lower() in suffixes and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(clips_dir).parts)
        and not is_scale_map_picture(path)
    )


def read_sidecar(video: Path) -> dict[str, Any]:
    """What this package's clip JSON says about a clip (prompt, seed, model, guidance), if it is there."""
    sidecar = video.with_suffix(".json")
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or "prompt" not in data:
        return {}
    return {key: data[key] for key in ("prompt", "negative_prompt", "seed", "model", "guidance") if key in data}


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear with antialiasing (area-like when shrinking), rounded back to uint8."""
    if frames.shape[1:3] == (height, width):
        return frames
    tensor = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    resized = torch.nn.functional.interpolate(tensor, size=(height, width), mode="bilinear", antialias=True,
                                              align_corners=False)
    return resized.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def read_prompts_file(path: str) -> dict[str, str]:
    """A JSON object mapping clips (their path under ``clips_dir``, file name or stem) to their prompts."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigurationError(f"data.prompts_file: file not found: {file}")
    try:
        mapping = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ConfigurationError(f"data.prompts_file={path!r} is not valid JSON ({error})") from None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                                for k, v in mapping.items()):
        raise ConfigurationError(f"data.prompts_file={path!r} must be a JSON object mapping clip file names "
                                 '(or paths under clips_dir, or ids) to prompt texts, e.g. {"clip_001.mp4": "a cat"}')
    return mapping


class VideoClips(Dataset):
    """Decodes one clip per item; failures become ``{"item": ..., "error": reason}``."""

    def __init__(self, clips_dir: Path, paths: list[Path], num_frames: int | None, height: int | None,
                 width: int | None, prompts: dict[str, str] | None = None):
        self.clips_dir, self.paths, self.prompts = clips_dir, paths, prompts or {}
        self.num_frames, self.height, self.width = num_frames, height, width

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.paths[index]
        sidecar = read_sidecar(path)
        clip_id = path.relative_to(self.clips_dir).as_posix()
        item = {"id": clip_id, "source": str(path),
                **{key: sidecar[key] for key in ("prompt", "negative_prompt", "seed") if key in sidecar}}
        # a prompts file names the clip by its path under the folder, its file name or its stem
        given = next((self.prompts[key] for key in (clip_id, path.name, path.stem) if key in self.prompts), None)
        if given is not None:
            item["prompt"] = given
        try:
            frames, fps, origin = decode_clip(path, self.num_frames)
        except Exception as error:  # any decoder failure is about this file, not the run
            return {"item": item, "error": f"{type(error).__name__}: {error}"}
        if self.height or self.width:
            frames = resize_frames(frames, self.height or frames.shape[1], self.width or frames.shape[2])
        return {"item": item, "frames": frames, "fps": fps, "frames_origin": origin,
                "model": sidecar.get("model"), "guidance": sidecar.get("guidance")}


class VideoFolderDataModule(LightningDataModule):
    """Every clip under a folder, for evaluation runs (``configs/evaluate_clips.yaml``).

    Args:
        clips_dir: the folder; searched recursively for ``.mp4``, ``.mov``, ``.webm`` and ``.avi``.
        num_frames: resample every clip to this many frames, evenly spread (unset: all frames).
        height: resize frames to this height (unset: as stored).
        width: resize frames to this width (unset: as stored).
        prompts_file: a JSON object mapping clips (file name, path under ``clips_dir``, or stem) to their
            prompts, for ``clip_score`` of clips without this package's JSON (it wins over the JSON's prompt).
        batch_size: clips per predict step.
        num_workers: decoding processes (0 decodes in the main process).
    """

    def __init__(self, clips_dir: str | None = None, num_frames: int | None = None, height: int | None = None,
                 width: int | None = None, prompts_file: str | None = None, batch_size: int = 1,
                 num_workers: int = 0):
        super().__init__()
        # with fewer clips than ranks (say, resuming with three left on eight GPUs) some ranks have none
        self.allow_zero_length_dataloader_with_multiple_devices = True
        for name, value, minimum in (("num_frames", num_frames, 2), ("height", height, 1), ("width", width, 1)):
            if value is not None and (not isinstance(value, int) or value < minimum):
                raise ConfigurationError(f"data.{name}={value!r} is not valid; it must be a whole number >= {minimum} "
                                         "or null (as stored)")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(f"data.batch_size={batch_size!r} is not valid; it must be a whole number >= 1")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ConfigurationError(f"data.num_workers={num_workers!r} is not valid; it must be a whole number >= 0")
        if not clips_dir:
            raise ConfigurationError("data.clips_dir is required: the folder of clips to score (--data.clips_dir DIR)")
        directory = Path(clips_dir).expanduser()
        if not directory.is_dir():
            raise ConfigurationError(f"data.clips_dir={clips_dir!r} is not a folder")
        paths = find_clips(directory)
        if not paths:
            raise ConfigurationError(f"data.clips_dir={clips_dir!r} holds no clips (looked for "
                                     f"{', '.join(VIDEO_SUFFIXES)}, recursively)")
        self.clips_dir = directory
        prompts = read_prompts_file(prompts_file) if prompts_file else None
        self.clips = VideoClips(directory, paths, num_frames, height, width, prompts)
        self.batch_size, self.num_workers = batch_size, num_workers

    def clip_sources(self) -> dict[str, str]:
        """``{clip id: file}`` of the clips to score."""
        return {path.relative_to(self.clips_dir).as_posix(): str(path) for path in self.clips.paths}

    def skip_clips(self, ids: set[str]) -> None:
        """Leave out clips already scored (an evaluation run resumes)."""
        self.clips.paths = [path for path in self.clips.paths if path.relative_to(self.clips_dir).as_posix() not in ids]

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(self.clips, batch_size=self.batch_size, sampler=rank_share(self.clips, self.trainer),
                          num_workers=self.num_workers, collate_fn=list)
