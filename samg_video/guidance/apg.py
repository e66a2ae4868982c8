"""Adaptive projected guidance: Sadat et al., "Eliminating Oversaturation and Artifacts of High Guidance
Scales in Diffusion Models" (ICLR 2025, arXiv 2410.02416)."""

from __future__ import annotations

import torch

from samg_video.errors import ConfigurationError
from samg_video.guidance.base import Guidance, Step, check_positive


class APG(Guidance):
    """The guidance update split into its parts parallel and orthogonal to ``cond``, the parallel part (which
    over-saturates) down-weighted by ``eta``:

    1. ``d = cond - uncond``; with ``momentum``, ``d`` becomes the running sum ``d_t + momentum * d_{t-1}``
       over the steps of the clip (the paper uses a negative momentum, e.g. -0.5);
    2. with ``norm_threshold > 0``, ``d`` is scaled down to at most that L2 norm;
    3. ``d = d_orth + eta * d_par`` (projection on ``cond``, in float64);
    4. ``uncond + scale * d``.

    Norms and projections are per sample over every other dimension (the whole clip), as in diffusers'
    ``AdaptiveProjectedGuidance``.

    Args:
        scale: the guidance scale ``w``.
        eta: weight of the part parallel to ``cond`` (1: no down-weighting, 0: orthogonal part only).
        norm_threshold: largest L2 norm of the update (0: no clipping); diffusers' default is 15.
        momentum: weight of the previous steps' update (0: none).
    """

    def __init__(self, scale: float, eta: float = 1.0, norm_threshold: float = 15.0, momentum: float = 0.0):
        check_positive("scale", scale)
        if norm_threshold < 0:
            raise ConfigurationError(f"norm_threshold={norm_threshold!r} is not valid; it must be >= 0 (0: off)")
        self.scale = float(scale)
        self.eta = float(eta)
        self.norm_threshold = float(norm_threshold)
        self.momentum = float(momentum)
        self._running: torch.Tensor | None = None

    def reset(self) -> None:
        self._running = None

    def combine(self, uncond: torch.Tensor, cond: torch.Tensor, layout: str, step: Step) -> torch.Tensor:
        dims = list(range(1, cond.ndim))
        delta = cond - uncond
        if self.momentum:
            delta = delta if self._running is None else delta + self.momentum * self._running
            self._running = delta
        if self.norm_threshold > 0:
            norm = delta.norm(p=2, dim=dims, keepdim=True)
            delta = delta * torch.minimum(torch.ones_like(delta), self.norm_threshold / norm)
        direction = torch.nn.functional.normalize(cond.double(), dim=dims)
        parallel = (delta.double() * direction).sum(dim=dims, keepdim=True) * direction
        orthogonal = delta.double() - parallel
        update = orthogonal.to(delta.dtype) + self.eta * parallel.to(delta.dtype)
        return uncond + self.scale * update
