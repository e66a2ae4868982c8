"""The temporal metrics of one clip as one record: what the metrics callback writes per clip."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from samg_video.errors import ConfigurationError
from samg_video.metrics.flicker import temporal_flickering
from samg_video.metrics.flow import DIS_PRESETS, FLOW_BACKENDS, locate_raft_weights, make_flow_backend
from samg_video.metrics.frames import MetricResult, check_frames
from samg_video.metrics.temporal_lpips import LPIPS_NETS, TemporalLPIPS, trunk_weights_url
from samg_video.metrics.warping_error import warping_error
from samg_video.metrics.weights import locate_weights

log = logging.getLogger(__name__)

METRIC_NAMES = ("flicker", "warping_error", "temporal_lpips")
# a metric's details that go into the per-clip record, under these names
DETAIL_FIELDS = {"mean_abs_diff": "mean_abs_diff", "mean_abs_diff_per_pair": "mean_abs_diff_per_pair",
                 "occluded_fraction": "occluded_fraction",
                 "trunk": "temporal_lpips_trunk"}


def check_metric_options(metrics: list[str], flow_backend: str, dis_preset: str, raft_weights: str | None,
                         lpips_net: str, lpips_weights: str | None) -> None:
    """Every option of ``TemporalMetrics`` checked without loading anything."""
    unknown = [name for name in metrics if name not in METRIC_NAMES]
    if unknown or not metrics:
        raise ConfigurationError(f"metrics={list(metrics)!r} is not valid; choose one or more of "
                                 f"{', '.join(METRIC_NAMES)}")
    if flow_backend not in FLOW_BACKENDS:
        raise ConfigurationError(f"flow_backend={flow_backend!r} is not valid; choose one of {', '.join(FLOW_BACKENDS)}")
    if dis_preset not in DIS_PRESETS:
        raise ConfigurationError(f"dis_preset={dis_preset!r} is not valid; choose one of {', '.join(DIS_PRESETS)}")
    if lpips_net not in LPIPS_NETS:
        raise ConfigurationError(f"lpips_net={lpips_net!r} is not valid; choose one of {', '.join(LPIPS_NETS)}")
    if "warping_error" in metrics and flow_backend.startswith("raft"):
        locate_raft_weights(flow_backend.split("_")[1], raft_weights)
    if "temporal_lpips" in metrics and lpips_weights:
        locate_weights(lpips_weights, trunk_weights_url(lpips_net), "lpips_weights")  # an explicit file must exist


class TemporalMetrics:
    """Computes the selected metrics of a clip and returns them as one flat record.

    Args:
        metrics: any of ``flicker``, ``warping_error``, ``temporal_lpips``.
        flow_backend: ``dis`` (default), ``farneback``, ``raft_large`` or ``raft_small``.
        dis_preset: ``ultrafast``, ``fast`` or ``medium``.
        raft_weights: torchvision RAFT weights file (unset: the torch hub cache).
        lpips_net: LPIPS trunk: ``alex``, ``vgg`` or ``squeeze``.
        lpips_weights: torchvision ImageNet weights of the trunk (unset: the torch hub cache).
        lpips_random_trunk_seed: tests only, see ``TemporalLPIPS``.
        device: where RAFT and LPIPS run.

    A metric that cannot be computed for a clip (one frame; LPIPS without trunk weights) is null in
    the record, with the reason under ``null_reasons``.
    """

    def __init__(self, metrics: list[str] | tuple[str, ...] = METRIC_NAMES, flow_backend: str = "dis",
                 dis_preset: str = "medium", raft_weights: str | None = None, lpips_net: str = "alex",
                 lpips_weights: str | None = None, lpips_random_trunk_seed: int | None = None,
                 device: str | torch.device = "cpu"):
        metrics = list(metrics)
        check_metric_options(metrics, flow_backend, dis_preset, raft_weights, lpips_net, lpips_weights)
        self.metrics = metrics
        self.flow = (make_flow_backend(flow_backend, dis_preset, raft_weights, device)
                     if "warping_error" in metrics else None)
        self.lpips = (TemporalLPIPS(lpips_net, lpips_weights, device, random_trunk_seed=lpips_random_trunk_seed)
                      if "temporal_lpips" in metrics else None)

    def _compute(self, name: str, frames: np.ndarray) -> MetricResult:
        if name == "flicker":
            return temporal_flickering(frames)
        if name == "warping_error":
            return warping_error(frames, self.flow)
        return self.lpips(frames)

    def __call__(self, frames: Any) -> dict[str, Any]:
        frames = np.asarray(frames.detach().cpu().numpy() if hasattr(frames, "detach") else frames)
        record: dict[str, Any] = {}
        reasons: dict[str, str] = {}
        if self.flow is not None:
            record["flow_backend"] = self.flow.name
        if frames.ndim == 4 and frames.shape[0] < 2:
            return {**record, **too_short_record(self.metrics, frames.shape[0])}
        frames = check_frames(frames)
        if self.lpips is not None:
            record["temporal_lpips_net"] = self.lpips.net_name
        for name in self.metrics:
            if name == "temporal_lpips" and not self.lpips.available:
                record[name], reasons[name] = None, self.lpips.reason
                continue
            try:
                result = self._compute(name, frames)
            except Exception as error:  # one clip's failure is recorded with it, not fatal to the run
                log.warning("%s failed on a clip and is reported as null: %s: %s", name, type(error).__name__, error)
                record[name], reasons[name] = None, f"failed: {type(error).__name__}: {error}"
                continue
            record[name] = result.value
            record[f"{name}_per_pair"] = result.per_pair
            record.update({DETAIL_FIELDS[key]: value for key, value in result.details.items() if key in DETAIL_FIELDS})
        record["null_reasons"] = reasons
        return record


def too_short_record(metrics: list[str], num_frames: int) -> dict[str, Any]:
    """The record of a clip too short for temporal metrics (an image): every metric null, with the reason."""
    reason = f"a temporal metric needs at least 2 frames; this clip has {num_frames}"
    return {**{name: None for name in metrics}, "null_reasons": {name: reason for name in metrics}}
