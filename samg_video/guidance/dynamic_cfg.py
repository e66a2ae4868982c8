"""CogVideoX's dynamic CFG schedule, exactly as ``CogVideoXPipeline(use_dynamic_cfg=True)`` computes it."""

from __future__ import annotations

import math
from typing import Any

import torch

from samg_video.guidance.base import Guidance, Step, check_positive


def dynamic_scale(scale: float, timestep: float, num_steps: int) -> float:
    """``1 + w (1 - cos(pi ((N - t) / N) ** 5)) / 2`` with ``t`` the raw timestep value, ``N`` the step count.

    Using the timestep value (not the step index) is what the stock pipeline does, so the scale
    oscillates; a faithful baseline keeps that.
    """
    return 1 + scale * ((1 - math.cos(math.pi * ((num_steps - timestep) / num_steps) ** 5.0)) / 2)


class DynamicCFG(Guidance):
    """CFG whose scale follows CogVideoX's timestep-based cosine schedule.

    Args:
        scale: the base guidance scale passed to the stock pipeline as ``guidance_scale``.
    """

    def __init__(self, scale: float):
        check_positive("scale", scale)
        self.scale = float(scale)
        self._scales: list[float] = []
        self._batch_size = 0

    def reset(self) -> None:
        self._scales = []

    def combine(self, uncond: torch.Tensor, cond: torch.Tensor, layout: str, step: Step) -> torch.Tensor:
        timestep = step.timestep
        # the stock pipeline reads the value with .item(): the same host synchronisation happens there
        t = float(timestep.reshape(-1)[0].item()) if isinstance(timestep, torch.Tensor) else float(timestep)
        scale = dynamic_scale(self.scale, t, step.count)
        self._scales.append(scale)
        self._batch_size = uncond.shape[0]
        return uncond + scale * (cond - uncond)

    def statistics(self) -> list[dict[str, Any]]:
        if not self._scales:
            return []
        summary = {"steps": len(self._scales), "mean_scale": sum(self._scales) / len(self._scales),
                   "per_step": {"scale": list(self._scales)}}
        return [dict(summary) for _ in range(self._batch_size)]
