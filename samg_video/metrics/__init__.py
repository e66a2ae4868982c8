"""Clip metrics (temporal consistency, colour and exposure): pure functions of frames (numpy/torch/OpenCV only,
no files, no Lightning)."""

from samg_video.metrics.clip_score import CLIPScorer
from samg_video.metrics.colour import clipped_fraction, colorfulness, colour_metrics, saturation
from samg_video.metrics.flicker import temporal_flickering
from samg_video.metrics.flow import FLOW_BACKENDS, FlowBackend, make_flow_backend
from samg_video.metrics.frames import MetricInputError, MetricResult
from samg_video.metrics.temporal_lpips import TemporalLPIPS
from samg_video.metrics.warping_error import occlusion_mask, pair_warping_errors, warp, warping_error

__all__ = [
    "CLIPScorer", "clipped_fraction", "colorfulness", "colour_metrics", "saturation",
    "FLOW_BACKENDS", "FlowBackend", "MetricInputError", "MetricResult", "TemporalLPIPS", "make_flow_backend",
    "occlusion_mask", "pair_warping_errors", "temporal_flickering", "warp", "warping_error",
]
