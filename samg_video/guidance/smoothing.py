"""Separable Gaussian smoothing of voxel maps along chosen dimensions (pure torch)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A normalised 1-D Gaussian kernel with radius ``ceil(3 sigma)``."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_smooth(values: torch.Tensor, dim: int, sigma: float) -> torch.Tensor:
    """Smooth ``values`` along ``dim`` with a Gaussian of standard deviation ``sigma`` (in elements).

    Borders are replicated, so a constant signal stays constant and short axes (a few latent frames)
    need no special case.
    """
    length = values.shape[dim]
    if sigma <= 0 or length == 1:
        return values
    kernel = gaussian_kernel(sigma, values.device, values.dtype)
    radius = kernel.numel() // 2
    moved = values.movedim(dim, -1)
    rows = moved.reshape(-1, 1, length)
    padded = F.pad(rows, (radius, radius), mode="replicate")
    smoothed = F.conv1d(padded, kernel.view(1, 1, -1))
    return smoothed.reshape(moved.shape).movedim(-1, dim)
