"""CFG-Zero*: Fan et al., "CFG-Zero*: Improved Classifier-Free Guidance for Flow Matching Models"
(arXiv 2503.18886)."""

from __future__ import annotations

import torch

from samg_video.errors import ConfigurationError
from samg_video.guidance.base import Guidance, Step, check_positive


class CFGZeroStar(Guidance):
    """CFG around an optimised unconditional prediction, and a zero prediction for the first steps:

    ``s* = <cond, uncond> / (|uncond|^2 + 1e-8)`` per sample (over every other dimension, in float32);
    ``s* uncond + scale * (cond - s* uncond)``; the first ``zero_init_steps`` steps return zeros.
    The paper targets flow-matching models (SD 3.5), where a zero velocity means "stay put".

    Args:
        scale: the guidance scale ``w``.
        zero_init_steps: number of initial steps whose prediction is zeroed (0: none).
    """

    def __init__(self, scale: float, zero_init_steps: int = 1):
        check_positive("scale", scale)
        if not isinstance(zero_init_steps, int) or zero_init_steps < 0:
            raise ConfigurationError(f"zero_init_steps={zero_init_steps!r} is not valid; "
                                     "it must be a whole number >= 0")
        self.scale = float(scale)
        self.zero_init_steps = zero_init_steps

    def combine(self, uncond: torch.Tensor, cond: torch.Tensor, layout: str, step: Step) -> torch.Tensor:
        if step.index < self.zero_init_steps:
            return torch.zeros_like(cond)
        flat_cond, flat_uncond = cond.flatten(1), uncond.flatten(1)
        optimal = (flat_cond * flat_uncond).sum(1, keepdim=True) / ((flat_uncond**2).sum(1, keepdim=True) + 1e-8)
        scaled_uncond = uncond * optimal.view(-1, *(1,) * (cond.ndim - 1))
        return scaled_uncond + self.scale * (cond - scaled_uncond)
