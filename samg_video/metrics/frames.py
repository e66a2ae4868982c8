"""What every metric takes (uint8 RGB frames) and returns (a value and its per-pair details)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class MetricInputError(ValueError):
    """Frames a metric cannot score: wrong dtype or shape, or fewer than two frames."""


@dataclass
class MetricResult:
    """One metric on one clip.

    Attributes:
        value: the clip's score.
        per_pair: the value for each consecutive frame pair ``(t, t+1)``, ``T - 1`` entries.
        details: further numbers and settings, e.g. the flow backend that produced the value.
    """

    value: float
    per_pair: list[float]
    details: dict[str, Any] = field(default_factory=dict)


def check_frames(frames: Any) -> np.ndarray:
    """``frames`` as a ``(T, H, W, 3)`` uint8 RGB array with ``T >= 2``, or a clear error."""
    if hasattr(frames, "detach"):  # a torch tensor
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise MetricInputError(f"frames must be uint8 RGB in [0, 255], got dtype {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise MetricInputError(f"frames must have shape (T, H, W, 3), got {tuple(frames.shape)}")
    if frames.shape[0] < 2:
        raise MetricInputError(f"temporal metrics need at least 2 frames, got {frames.shape[0]}")
    if frames.shape[1] < 1 or frames.shape[2] < 1:
        raise MetricInputError(f"frames must be at least 1x1 pixels, got {frames.shape[1]}x{frames.shape[2]}")
    return np.ascontiguousarray(frames)
