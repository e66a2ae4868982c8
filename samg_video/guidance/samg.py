"""SAMG: Spatial Adaptive Multi Guidance.

Reference: Li et al., "Delta Score Matters! Spatial Adaptive Multi Guidance in Diffusion Models",
arXiv 2604.26503 (2026). No official code is public; the default formula is the faithful reading in
``shared/reference/samg.md``:

    delta = cond - uncond                                  (float32)
    E     = mean over channels of delta ** 2               (one value per frame, row, column)
    En    = (E - min E) / (max E - min E + 1e-8)           (over all voxels of the sample)
    W     = w_max - En * (w_max - w_min)                   (high energy -> w_min, low -> w_max)
    out   = uncond + W * delta

The options expose the choices the paper leaves open; every default is the formula above.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from samg_video.errors import ConfigurationError
from samg_video.guidance.base import (
    Guidance,
    Step,
    broadcast_voxel_map,
    channel_dim,
    check_choice,
    check_positive,
    to_voxel_map,
)
from samg_video.guidance.smoothing import gaussian_smooth

NORMALISATION_EPS = 1e-8
# a voxel counts as "at" a bound when its scale is within this share of the range of it
AT_BOUND_TOLERANCE = 0.01
# shares at the bounds and energy quantiles are estimated from a fixed strided sample of about this many
# voxels per sample and step, kept on the device and evaluated once per clip: a step pays for one mean
# and one small copy (the mean scale is exact)
STATISTICS_SAMPLE = 1024
STATISTICS_QUANTILES = (0.05, 0.5, 0.95)

ENERGIES = ("mean_square", "l2")
SCOPES = ("clip", "frame")
NORMALISATIONS = ("minmax", "quantile")
MAPPINGS = ("linear", "threshold")


class SAMG(Guidance):
    """Per-voxel guidance scale in ``[w_min, w_max]`` from the energy of the delta score.

    Args:
        w_min: conservative scale given to the highest-energy voxels (edges, micro-texture).
        w_max: aggressive scale given to the lowest-energy voxels.
        energy: ``mean_square`` (mean over channels of ``delta**2``) or ``l2`` (L2 norm over channels).
        norm_scope: normalise the energy over the whole ``clip`` of each sample, or per ``frame``
            (per-frame normalisation can make the scale map flicker between frames).
        normalization: ``minmax``, or ``quantile``: clip the energy to ``quantile_bounds`` first, which
            is robust to a few extreme voxels.
        quantile_bounds: lower and upper energy quantiles for ``normalization="quantile"``.
        mapping: ``linear`` from energy to scale, or ``threshold``: ``w_min`` at and above the
            ``threshold_quantile`` of the energy, ``w_max`` below it.
        threshold_quantile: energy quantile that splits the voxels for ``mapping="threshold"``.
        spatial_sigma: Gaussian smoothing of the energy over rows and columns, in latent pixels (0: off).
        temporal_sigma: Gaussian smoothing of the energy over frames, in latent frames (0: off).
        step_ema: weight of the previous steps in an exponential moving average of the normalised
            energy across sampling steps (0: off). The normalised map is averaged because the delta's
            magnitude changes with the timestep.
        window: ``(start, stop)`` fractions of the sampling steps where SAMG is active, ``[start, stop)``.
        w_base: plain CFG scale used outside the window; required when the window does not cover all steps.
        collect_statistics: record per-step statistics of the scale map (kept on the device, read once
            per clip).
    """

    def __init__(
        self,
        w_min: float,
        w_max: float,
        energy: Literal["mean_square", "l2"] = "mean_square",
        norm_scope: Literal["clip", "frame"] = "clip",
        normalization: Literal["minmax", "quantile"] = "minmax",
        quantile_bounds: tuple[float, float] = (0.01, 0.99),
        mapping: Literal["linear", "threshold"] = "linear",
        threshold_quantile: float = 0.5,
        spatial_sigma: float = 0.0,
        temporal_sigma: float = 0.0,
        step_ema: float = 0.0,
        window: tuple[float, float] = (0.0, 1.0),
        w_base: float | None = None,
        collect_statistics: bool = True,
    ):
        check_positive("w_min", w_min)
        check_positive("w_max", w_max)
        if w_min > w_max:
            raise ConfigurationError(f"w_min={w_min} is greater than w_max={w_max}; it must be <= w_max")
        check_choice("energy", energy, ENERGIES)
        check_choice("norm_scope", norm_scope, SCOPES)
        check_choice("normalization", normalization, NORMALISATIONS)
        check_choice("mapping", mapping, MAPPINGS)
        low, high = _pair("quantile_bounds", quantile_bounds)
        if not 0 <= low < high <= 1:
            raise ConfigurationError(
                f"quantile_bounds={quantile_bounds!r} is not valid; it must be (low, high) with 0 <= low < high <= 1"
            )
        if not 0 < threshold_quantile < 1:
            raise ConfigurationError(f"threshold_quantile={threshold_quantile!r} is not valid; it must be in (0, 1)")
        for name, sigma in (("spatial_sigma", spatial_sigma), ("temporal_sigma", temporal_sigma)):
            if not sigma >= 0:
                raise ConfigurationError(f"{name}={sigma!r} is not valid; it must be >= 0 (0 turns it off)")
        if not 0 <= step_ema < 1:
            raise ConfigurationError(f"step_ema={step_ema!r} is not valid; it must be in [0, 1) (0 turns it off)")
        start, stop = _pair("window", window)
        if not 0 <= start < stop <= 1:
            raise ConfigurationError(
                f"window={window!r} is not valid; it must be (start, stop) with 0 <= start < stop <= 1"
            )
        if (start, stop) != (0.0, 1.0):
            if w_base is None:
                raise ConfigurationError(
                    f"w_base is required when window={window!r} does not cover all steps: "
                    "it is the CFG scale used outside the window"
                )
            check_positive("w_base", w_base)

        self.w_min, self.w_max = float(w_min), float(w_max)
        self.energy, self.norm_scope, self.normalization, self.mapping = energy, norm_scope, normalization, mapping
        self.quantile_bounds = (float(low), float(high))
        self.threshold_quantile = float(threshold_quantile)
        self.spatial_sigma, self.temporal_sigma = float(spatial_sigma), float(temporal_sigma)
        self.step_ema = float(step_ema)
        self.window = (float(start), float(stop))
        self.w_base = None if w_base is None else float(w_base)
        self.collect_statistics = collect_statistics
        self._keep_maps = False
        self.reset()

    # ---- state -------------------------------------------------------------------------------
    def reset(self) -> None:
        self._ema_state: torch.Tensor | None = None
        # per-clip buffers, allocated at the first active step and filled in place: tensors kept alive
        # step after step would fragment the heap and make every latent-sized allocation fault in pages
        self._mean_scales: torch.Tensor | None = None  # (steps, B)
        self._samples: torch.Tensor | None = None  # (steps, 2, B, N): scale and energy samples
        self._recorded = 0
        self._map_sum: torch.Tensor | None = None  # (B, F, H, W): sum of the scale over the active steps
        self._map_steps = 0

    # ---- scale maps (for visualisation; off unless asked for) ------------------------------------
    has_scale_map = True

    def record_scale_maps(self, enabled: bool = True) -> None:
        self._keep_maps = enabled

    def mean_scale_maps(self) -> torch.Tensor | None:
        if not self._keep_maps or self._map_sum is None:
            return None
        return (self._map_sum / self._map_steps).cpu()

    def scale_range(self) -> tuple[float, float]:
        return self.w_min, self.w_max

    def _add_to_map(self, scales: torch.Tensor) -> None:
        if self._map_sum is None or self._map_sum.shape != scales.shape:
            self._map_sum, self._map_steps = torch.zeros_like(scales), 0
        self._map_sum.add_(scales)
        self._map_steps += 1

    def is_active(self, step: Step) -> bool:
        return self.window[0] <= step.fraction < self.window[1]

    # ---- the method ----------------------------------------------------------------------------
    def guidance_energy(self, delta: torch.Tensor, layout: str) -> torch.Tensor:
        """Per-voxel energy of the delta score, shape ``(B, F, H, W)``."""
        # square-then-reduce: torch.linalg.vector_norm over a middle dimension is ~50x slower on CPU
        energy = torch.mul(delta, delta).mean(dim=channel_dim(layout))
        if self.energy == "l2":
            energy = energy.mul_(delta.shape[channel_dim(layout)]).sqrt_()
        return to_voxel_map(energy, layout)

    def smooth(self, energy: torch.Tensor) -> torch.Tensor:
        if self.spatial_sigma > 0:
            energy = gaussian_smooth(gaussian_smooth(energy, 2, self.spatial_sigma), 3, self.spatial_sigma)
        if self.temporal_sigma > 0:
            energy = gaussian_smooth(energy, 1, self.temporal_sigma)
        return energy

    def normalising_affine(self, energy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(slope, offset)`` with ``En = E * slope + offset``, broadcastable against ``E``."""
        flat = energy.flatten(1) if self.norm_scope == "clip" else energy.flatten(2)
        if self.normalization == "minmax":
            low, high = flat.amin(dim=-1), flat.amax(dim=-1)
        else:
            bounds = torch.tensor(self.quantile_bounds, device=energy.device, dtype=energy.dtype)
            low, high = torch.quantile(flat, bounds, dim=-1)
        slope = torch.reciprocal((high - low).add_(NORMALISATION_EPS))
        return _expand_to(slope, energy), _expand_to(low.mul_(slope).neg_(), energy)

    def normalise(self, energy: torch.Tensor) -> torch.Tensor:
        """Energy mapped to [0, 1] within each normalisation scope."""
        slope, offset = self.normalising_affine(energy)
        normalised = torch.addcmul(offset, energy, slope)
        return normalised.clamp_(0, 1) if self.normalization == "quantile" else normalised

    def scale_map(self, delta: torch.Tensor, layout: str) -> torch.Tensor:
        """The per-voxel guidance scale ``W``, shape ``(B, F, H, W)``, within ``[w_min, w_max]``."""
        return self.scales_from_energy(self.guidance_energy(delta, layout))

    def scales_from_energy(self, energy: torch.Tensor) -> torch.Tensor:
        energy = self.smooth(energy)
        span = self.w_min - self.w_max
        if self.mapping == "linear" and self.normalization == "minmax" and self.step_ema == 0:
            # the default, fused into one pass: W = w_max + span * (E * slope + offset). With
            # w_min == w_max the slope is 0 and every voxel gets exactly w_max.
            slope, offset = self.normalising_affine(energy)
            return torch.addcmul(offset.mul_(span).add_(self.w_max), energy, slope.mul_(span))
        normalised = self.normalise(energy)
        if self.step_ema > 0:
            previous = self._ema_state
            if previous is not None and previous.shape == normalised.shape:
                normalised = torch.lerp(normalised, previous, self.step_ema)
            self._ema_state = normalised
        if self.mapping == "linear":
            return normalised.mul(span).add_(self.w_max)  # w_max - En * (w_max - w_min)
        flat = normalised.flatten(1) if self.norm_scope == "clip" else normalised.flatten(2)
        cut = _expand_to(torch.quantile(flat, self.threshold_quantile, dim=-1), normalised)
        return torch.where(normalised >= cut, self.w_min, self.w_max).to(normalised.dtype)

    def combine(self, uncond: torch.Tensor, cond: torch.Tensor, layout: str, step: Step) -> torch.Tensor:
        delta = cond - uncond
        if not self.is_active(step):
            return uncond + self.w_base * delta
        energy = self.guidance_energy(delta, layout)
        scales = self.scales_from_energy(energy)
        if self.collect_statistics:
            self._record(scales, energy, step)
        if self._keep_maps:
            self._add_to_map(scales)
        # the delta buffer becomes the output (no new latent-sized allocation); W * delta + uncond rounds
        # exactly like CFG's uncond + w * delta, as addition commutes: w_min == w_max == s is CFG at s
        return delta.mul_(broadcast_voxel_map(scales, layout)).add_(uncond)

    # ---- statistics ------------------------------------------------------------------------------
    def _record(self, scales: torch.Tensor, energy: torch.Tensor, step: Step) -> None:
        flat_scales, flat_energy = scales.flatten(1), energy.flatten(1)
        stride = max(1, flat_scales.shape[1] // STATISTICS_SAMPLE)
        sampled_scales, sampled_energy = flat_scales[:, ::stride], flat_energy[:, ::stride]
        shape = (step.count, 2, *sampled_scales.shape)
        if self._samples is None or self._samples.shape != shape or self._recorded >= step.count:
            self._samples = torch.empty(shape, device=scales.device, dtype=scales.dtype)
            self._mean_scales = torch.empty(shape[0], shape[2], device=scales.device, dtype=scales.dtype)
            self._recorded = 0
        row = self._recorded
        torch.mean(flat_scales, dim=1, out=self._mean_scales[row])
        torch.stack((sampled_scales, sampled_energy), out=self._samples[row])
        self._recorded += 1

    def statistics(self) -> list[dict[str, Any]]:
        """Per-sample statistics over the active steps; one device-to-host copy per clip."""
        if not self._recorded:
            return []
        steps = self._samples.shape[0]  # the buffer is allocated with one row per sampling step
        samples = self._samples[: self._recorded]  # (active steps, 2, B, N)
        scales, energy = samples[:, 0], samples[:, 1]
        tolerance = AT_BOUND_TOLERANCE * (self.w_max - self.w_min)
        columns = [
            self._mean_scales[: self._recorded],
            (scales <= self.w_min + tolerance).float().mean(dim=2),
            (scales >= self.w_max - tolerance).float().mean(dim=2),
            *sorted_quantiles(energy.sort(dim=2).values, STATISTICS_QUANTILES),
        ]
        table = torch.stack(columns, dim=2).cpu()  # (steps, B, 6)
        names = ["mean_scale", "share_at_w_min", "share_at_w_max", "energy_q05", "energy_q50", "energy_q95"]
        result = []
        for sample in range(table.shape[1]):
            per_step = {name: table[:, sample, i].tolist() for i, name in enumerate(names)}
            summary = {name: sum(values) / len(values) for name, values in per_step.items()}
            result.append({"steps": steps, "active_steps": table.shape[0], **summary,
                           "per_step": per_step})
        return result


def sorted_quantiles(ordered: torch.Tensor, quantiles: tuple[float, ...]) -> list[torch.Tensor]:
    """Quantiles along the last dimension of already sorted values, linearly interpolated as
    ``torch.quantile`` does, without its per-call overhead on small inputs."""
    last = ordered.shape[-1] - 1
    result = []
    for q in quantiles:
        position = q * last
        below = int(position)
        above = min(below + 1, last)
        result.append(torch.lerp(ordered[..., below], ordered[..., above], position - below))
    return result


def _pair(name: str, value: Any) -> tuple[float, float]:
    try:
        low, high = value
        return float(low), float(high)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name}={value!r} is not valid; it must be a pair of two numbers") from None


def _expand_to(reduced: torch.Tensor, energy: torch.Tensor) -> torch.Tensor:
    """Reshape per-scope values (``(B,)`` or ``(B, F)``) to broadcast against a ``(B, F, H, W)`` map."""
    return reduced.reshape(*reduced.shape, *([1] * (energy.dim() - reduced.dim())))
