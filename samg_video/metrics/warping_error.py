"""Warping error of Lai et al., ECCV 2018, "Learning Blind Video Temporal Consistency"
(reference code: ``evaluate_WarpError.py`` in ``phoenix104104/fast_blind_video_consistency``).

For each pair ``(f_t, f_{t+1})`` of RGB frames in ``[0, 1]``, with forward flow ``fw`` (t -> t+1) and
backward flow ``bw`` (t+1 -> t):

- ``W(x) = f_{t+1}(x + fw(x))``, bilinear, sample positions clamped to the image;
- ``b(x) = bw(x + fw(x))``; occluded where ``|fw + b|^2 > 0.01 (|fw|^2 + |b|^2) + 0.5``
  (forward-backward inconsistency) or ``|d fw|^2 > 0.01 |fw|^2 + 0.002`` (motion boundary, forward
  differences with the last row and column 0);
- ``E_t = sum_{x,c} M (W - f_t)^2 / (3 sum_x M)`` over non-occluded ``M``; ``/ (3 H W)`` if none is.

The clip's value is the mean of ``E_t``; lower is better. Values depend on the flow method, so the
backend's name is recorded with each value (the original used FlowNet2).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from samg_video.metrics.flow import FlowBackend
from samg_video.metrics.frames import MetricResult, check_frames

PAIRS_PER_CHUNK = 4  # small chunks keep the per-pair maps in cache: faster than large batches on a CPU


def warp(images: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``images(x + flow(x))``: bilinear, sample positions clamped to the image.

    ``images`` is ``(N, C, H, W)``, ``flow`` ``(N, 2, H, W)`` in pixels (channel 0 horizontal).
    """
    return torch.nn.functional.grid_sample(images, _sampling_grid(flow), mode="bilinear", padding_mode="border",
                                           align_corners=True)


def occlusion_mask(forward: torch.Tensor, backward: torch.Tensor) -> torch.Tensor:
    """``(N, H, W)`` bool, True where ``x`` is occluded between the two frames (Lai et al.'s two tests)."""
    return _occlusion(forward, warp(backward, forward))


def pair_warping_errors(first: torch.Tensor, second: torch.Tensor, forward: torch.Tensor,
                        backward: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``E_t`` for a batch of pairs, and the occlusion masks used.

    Frames are ``(N, 3, H, W)`` in ``[0, 1]``, flows ``(N, 2, H, W)`` in pixels.
    """
    channels, (height, width) = first.shape[1], first.shape[2:]
    # one sampling pass serves both the warped frame and the backward flow at x + fw(x)
    sampled = warp(torch.cat([second, backward], dim=1), forward)
    warped, backward_at_target = sampled[:, :channels], sampled[:, channels:]
    occluded = _occlusion(forward, backward_at_target)
    visible = (~occluded).to(first.dtype)
    squared = (warped - first).square_().sum(1).mul_(visible)
    visible_count = visible.sum((1, 2), dtype=torch.float64)
    denominator = channels * torch.where(visible_count > 0, visible_count, float(height * width))
    return squared.sum((1, 2), dtype=torch.float64) / denominator, occluded


def warping_error(frames: Any, flow: FlowBackend) -> MetricResult:
    """Lai et al.'s warping error of ``(T, H, W, 3)`` uint8 RGB frames with flows from ``flow``.

    ``per_pair`` holds ``E_t``; ``details`` the flow backend and the share of occluded pixels.
    """
    frames = check_frames(frames)
    prepared = flow.prepare(frames)

    def chunk_errors(start: int, stop: int, forward: np.ndarray, backward: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        first, second = (_as_tensor(frames[a:b]).float().div_(255.0) for a, b in ((start, stop), (start + 1, stop + 1)))
        pair_errors, mask = pair_warping_errors(first, second, _as_tensor(forward), _as_tensor(backward))
        return pair_errors, mask.float().mean((1, 2))

    errors, occluded = zip(*flow.map_chunks(prepared, PAIRS_PER_CHUNK, chunk_errors))
    per_pair = torch.cat(errors).tolist()
    return MetricResult(value=float(np.mean(per_pair)), per_pair=per_pair,
                        details={"flow_backend": flow.name,
                                 "occluded_fraction": float(torch.cat(occluded).mean())})


def _occlusion(forward: torch.Tensor, backward_at_target: torch.Tensor) -> torch.Tensor:
    forward_sq = forward.square().sum(1)
    inconsistent = (forward + backward_at_target).square_().sum(1) > (
        backward_at_target.square().sum(1).add_(forward_sq).mul_(0.01).add_(0.5))
    # motion boundary: squared forward differences of both flow components, last column / row 0
    gradient_sq = torch.zeros_like(forward_sq)
    gradient_sq[:, :, :-1] = (forward[..., 1:] - forward[..., :-1]).square_().sum(1)
    gradient_sq[:, :-1, :] += (forward[..., 1:, :] - forward[..., :-1, :]).square_().sum(1)
    boundary = gradient_sq > forward_sq.mul_(0.01).add_(0.002)
    return inconsistent | boundary


def _sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """``grid_sample``'s grid for ``x + flow(x)``: align_corners=True maps -1 and 1 to the first and last
    pixel centres; a side of one pixel has a single centre."""
    count, _, height, width = flow.shape
    grid = torch.empty(count, height, width, 2, dtype=flow.dtype, device=flow.device)
    for axis, size in ((0, width), (1, height)):
        positions = torch.arange(size, dtype=flow.dtype, device=flow.device)
        positions = positions if axis == 0 else positions[:, None]
        torch.add(flow[:, axis], positions, out=grid[..., axis])
        if size > 1:
            grid[..., axis].mul_(2.0 / (size - 1)).sub_(1.0)
        else:
            grid[..., axis].zero_()
    return grid


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    """``(N, H, W, C)`` numpy to ``(N, C, H, W)`` torch, contiguous."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).contiguous()
