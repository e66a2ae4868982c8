"""MAMBO-G: Magnitude-Aware Mitigation for Boosted Guidance (arXiv 2508.03442), as diffusers'
``MagnitudeAwareGuidance`` computes it: one adaptive scale per sample, the rival closest to SAMG."""

from __future__ import annotations

from typing import Any

import torch

from samg_video.guidance.base import Guidance, Step, check_positive


class MamboG(Guidance):
    """CFG whose scale falls where the guidance update is large relative to the unconditional prediction:

    ``r = |cond - uncond| / |uncond|`` per sample (norms over every other dimension, in float32),
    ``w = 1 + (scale - 1) exp(-alpha r)``, ``uncond + w (cond - uncond)`` (diffusers' formulation, its
    default). One scale per sample and step, where SAMG gives one per voxel.

    Args:
        scale: the guidance scale at ``r = 0``, the largest it can be.
        alpha: how quickly the scale falls towards 1 as ``r`` grows (diffusers' default 8).
    """

    def __init__(self, scale: float, alpha: float = 8.0):
        check_positive("scale", scale)
        check_positive("alpha", alpha)
        self.scale, self.alpha = float(scale), float(alpha)
        self._scales: list[torch.Tensor] = []

    def reset(self) -> None:
        self._scales = []

    def combine(self, uncond: torch.Tensor, cond: torch.Tensor, layout: str, step: Step) -> torch.Tensor:
        delta = cond - uncond
        ratio = delta.flatten(1).norm(dim=1) / uncond.flatten(1).norm(dim=1)
        scale = 1.0 + (self.scale - 1.0) * torch.exp(-self.alpha * ratio)
        self._scales.append(scale.detach())
        return uncond + scale.view(-1, *(1,) * (cond.ndim - 1)) * delta

    def statistics(self) -> list[dict[str, Any]]:
        """Per sample: the scale at each step and its mean over the steps (one copy to the host per clip)."""
        if not self._scales:
            return []
        table = torch.stack(self._scales).cpu()  # (steps, B)
        return [{"steps": table.shape[0], "active_steps": table.shape[0], "mean_scale": float(table[:, i].mean()),
                 "per_step": {"scale": table[:, i].tolist()}} for i in range(table.shape[1])]
