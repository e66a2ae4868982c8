"""Classifier-free guidance (Ho & Salimans, 2022): one global scale, as every stock pipeline combines."""

from __future__ import annotations

import torch

from samg_video.guidance.base import Guidance, Step, check_positive


class CFG(Guidance):
    """``uncond + scale * (cond - uncond)``.

    Args:
        scale: the guidance scale ``w``; the stock value is 6 for CogVideoX and 9 for ModelScope.
    """

    def __init__(self, scale: float):
        check_positive("scale", scale)
        self.scale = float(scale)

    def combine(self, uncond: torch.Tensor, cond: torch.Tensor, layout: str, step: Step) -> torch.Tensor:
        # same operations in the same order as the stock pipelines, so results match bit for bit
        return uncond + self.scale * (cond - uncond)
