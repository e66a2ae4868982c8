"""What every metric takes (uint8 RGB frames) and returns (a value, and its per-pair or per-frame values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class MetricInputError(ValueError):
    """Frames a metric cannot score: wrong dtype or shape, or too few frames."""


@dataclass
class MetricResult:
    """One metric on one clip.

    Attributes:
        value: the clip's score.
        per_pair: for a temporal metric, the value of each consecutive frame pair ``(t, t+1)``, ``T - 1``
            entries (empty for a per-frame metric).
        details: further numbers and settings, e.g. the flow backend that produced the value.
        per_frame: for a per-frame metric (colour, CLIP score), the value of each frame scored.
    """

    value: float
    per_pair: list[float]
    details: dict[str, Any] = field(default_factory=dict)
    per_frame: list[float] = field(default_factory=list)


def check_frames(frames: Any, min_frames: int = 2) -> np.ndarray:
    """``frames`` as a ``(T, H, W, 3)`` uint8 RGB array with ``T >= min_frames``, or a clear error."""
    if hasattr(frames, "detach"):  # a torch tensor
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise MetricInputError(f"frames must be uint8 RGB in [0, 255], got dtype {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise MetricInputError(f"frames must have shape (T, H, W, 3), got {tuple(frames.shape)}")
    if frames.shape[0] < min_frames:
        kind = "temporal metrics need" if min_frames == 2 else "a metric needs"
        raise MetricInputError(f"{kind} at least {min_frames} frames, got {frames.shape[0]}")
    if frames.shape[1] < 1 or frames.shape[2] < 1:
        raise MetricInputError(f"frames must be at least 1x1 pixels, got {frames.shape[1]}x{frames.shape[2]}")
    return np.ascontiguousarray(frames)
