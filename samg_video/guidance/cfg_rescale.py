"""CFG with standard-deviation rescaling: Lin et al., "Common Diffusion Noise Schedules and Sample Steps are
Flawed" (WACV 2024, arXiv 2305.08891), section 3.4; diffusers' ``guidance_rescale``."""

from __future__ import annotations

import torch

from samg_video.errors import ConfigurationError
from samg_video.guidance.base import Guidance, Step, check_positive


class CFGRescale(Guidance):
    """CFG, then the result rescaled to the standard deviation of ``cond`` and mixed back:

    ``g = uncond + scale * (cond - uncond)``; ``r = g * std(cond) / std(g)``; ``rescale * r + (1 - rescale) * g``,
    the standard deviations taken per sample over every other dimension (the whole clip).

    Args:
        scale: the CFG scale ``w``.
        rescale: the mixing factor ``phi`` in [0, 1] (0: plain CFG); the paper uses 0.7.
    """

    def __init__(self, scale: float, rescale: float = 0.7):
        check_positive("scale", scale)
        if not 0.0 <= rescale <= 1.0:
            raise ConfigurationError(f"rescale={rescale!r} is not valid; it must be in [0, 1]")
        self.scale = float(scale)
        self.rescale = float(rescale)

    def combine(self, uncond: torch.Tensor, cond: torch.Tensor, layout: str, step: Step) -> torch.Tensor:
        guided = uncond + self.scale * (cond - uncond)
        dims = list(range(1, cond.ndim))
        rescaled = guided * (cond.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True))
        return self.rescale * rescaled + (1 - self.rescale) * guided
