"""The metrics of one clip as one record: what the metrics callback writes per clip.

Temporal metrics (flicker, warping error, temporal LPIPS) score frame pairs and need two frames or more;
per-frame metrics (CLIP score against the prompt; saturation, colourfulness, clipped fraction) score
images too.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from samg_video.errors import ConfigurationError
from samg_video.metrics.clip_score import (
    DEFAULT_CLIP_MODEL,
    CLIPScorer,
    locate_clip_model,
)
from samg_video.metrics.colour import COLOUR_METRICS, colour_metrics
from samg_video.metrics.flicker import temporal_flickering
from samg_video.metrics.flow import (
    DIS_PRESETS,
    FLOW_BACKENDS,
    locate_raft_weights,
    make_flow_backend,
)
from samg_video.metrics.frames import MetricResult, check_frames
from samg_video.metrics.temporal_lpips import (
    LPIPS_NETS,
    TemporalLPIPS,
    trunk_weights_url,
)
from samg_video.metrics.warping_error import warping_error
from samg_video.metrics.weights import locate_weights
from samg_video.metrics.world import (
    TEXTURE_METRICS,
    WORLD_METRICS,
    applicable_texture_metrics,
    world_metrics,
)
from samg_video.world.scenes import parse_prompt

log = logging.getLogger(__name__)

TEMPORAL_METRICS = ("flicker", "warping_error", "temporal_lpips")
METRIC_NAMES = TEMPORAL_METRICS + ("clip_score",) + COLOUR_METRICS + WORLD_METRICS
# the default selection: the world's ground-truth metrics only make sense for the toy model's clips
DEFAULT_METRICS = TEMPORAL_METRICS + ("clip_score",) + COLOUR_METRICS
# a metric's details that go into the per-clip record, under these names
DETAIL_FIELDS = {"recovered": "world_recovered", "mean_abs_diff": "mean_abs_diff", "mean_abs_diff_per_pair": "mean_abs_diff_per_pair",
                 "clip_model": "clip_model", "clip_frames": "clip_score_frames",
                 "occluded_fraction": "occluded_fraction",
                 "trunk": "temporal_lpips_trunk"}
# the details that are numbers like the metrics (a record reader checks their type)
NUMBER_DETAILS = ("mean_abs_diff", "occluded_fraction")


def check_metric_options(metrics: list[str], flow_backend: str, dis_preset: str, raft_weights: str | None,
                         lpips_net: str, lpips_weights: str | None, clip_model: str = DEFAULT_CLIP_MODEL,
                         clip_every_k_frames: int = 1) -> None:
    """Every option of ``MetricSuite`` checked without loading anything."""
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
    if not isinstance(clip_every_k_frames, int) or clip_every_k_frames < 1:
        raise ConfigurationError(f"clip_every_k_frames={clip_every_k_frames!r} is not valid; it must be a whole "
                                 "number >= 1")
    if "clip_score" in metrics:
        _, reason = locate_clip_model(clip_model)
        if reason is not None and reason.startswith("clip_model="):  # a path that is not there; a hub id is not checked
            raise ConfigurationError(reason)
    if "temporal_lpips" in metrics and lpips_weights:
        locate_weights(lpips_weights, trunk_weights_url(lpips_net), "lpips_weights")  # an explicit file must exist


class MetricSuite:
    """Computes the selected metrics of a clip and returns them as one flat record.

    Args:
        metrics: any of ``flicker``, ``warping_error``, ``temporal_lpips`` (temporal), ``clip_score``,
            ``saturation``, ``colorfulness``, ``clipped_fraction`` (per frame); for clips of the synthetic
            world (the ``toy`` model), ``world_adherence``, ``world_all_correct``, ``world_colour``,
            ``world_shape``, ``world_motion``, ``world_binding``, ``world_background``, ``palette_overshoot``,
            ``texture_fidelity``, ``texture_fidelity_fine`` and ``texture_fidelity_coarse``
            (``samg_video/metrics/world.py``).
        flow_backend: ``dis`` (default), ``farneback``, ``raft_large`` or ``raft_small``.
        dis_preset: ``ultrafast``, ``fast`` or ``medium``.
        raft_weights: torchvision RAFT weights file (unset: the torch hub cache).
        lpips_net: LPIPS trunk: ``alex``, ``vgg`` or ``squeeze``.
        lpips_weights: torchvision ImageNet weights of the trunk (unset: the torch hub cache).
        lpips_random_trunk_seed: tests only, see ``TemporalLPIPS``.
        clip_model: hub id or local directory of the CLIP model of ``clip_score``.
        clip_every_k_frames: CLIP-score frames ``0, k, 2k, ...`` only.
        device: where RAFT, LPIPS and CLIP run.
        images_only: the clips are images (one frame): the temporal metrics are null with the reason, and
            no flow method or LPIPS network is loaded.

    A metric that cannot be computed for a clip (a temporal one on one frame; LPIPS without trunk weights)
    is null in the record, with the reason under ``null_reasons``.
    """

    def __init__(self, metrics: list[str] | tuple[str, ...] = DEFAULT_METRICS, flow_backend: str = "dis",
                 dis_preset: str = "medium", raft_weights: str | None = None, lpips_net: str = "alex",
                 lpips_weights: str | None = None, lpips_random_trunk_seed: int | None = None,
                 clip_model: str = DEFAULT_CLIP_MODEL, clip_every_k_frames: int = 1,
                 device: str | torch.device = "cpu", images_only: bool = False):
        metrics = list(metrics)
        check_metric_options(metrics, flow_backend, dis_preset, raft_weights, lpips_net, lpips_weights, clip_model,
                             clip_every_k_frames)
        self.metrics = metrics
        self.flow = (make_flow_backend(flow_backend, dis_preset, raft_weights, device)
                     if "warping_error" in metrics and not images_only else None)
        self.lpips = (TemporalLPIPS(lpips_net, lpips_weights, device, random_trunk_seed=lpips_random_trunk_seed)
                      if "temporal_lpips" in metrics and not images_only else None)
        self.clip = CLIPScorer(clip_model, device, clip_every_k_frames) if "clip_score" in metrics else None

    def __call__(self, frames: Any, prompt: str | None = None) -> dict[str, Any]:
        """The record of one clip; ``prompt`` is the text ``clip_score`` compares the frames with."""
        frames = check_frames(frames, min_frames=1)
        record: dict[str, Any] = {}
        reasons: dict[str, str] = {}
        if self.flow is not None:
            record["flow_backend"] = self.flow.name
        if self.lpips is not None:
            record["temporal_lpips_net"] = self.lpips.net_name
        temporal = [name for name in self.metrics if name in TEMPORAL_METRICS]
        if len(frames) < 2:
            short = too_short_record(temporal, len(frames))
            reasons.update(short.pop("null_reasons"))
            record.update(short)
            temporal = []
        for name in temporal:
            if name == "temporal_lpips" and not self.lpips.available:
                record[name], reasons[name] = None, self.lpips.reason
                continue
            self._store(record, reasons, [name], lambda name=name: {name: self._temporal(name, frames)})
        if self.clip is not None:
            if not self.clip.available:
                record["clip_score"], reasons["clip_score"] = None, self.clip.reason
            elif not prompt:
                record["clip_score"], reasons["clip_score"] = None, "no prompt for this clip"
            else:
                self._store(record, reasons, ["clip_score"], lambda: {"clip_score": self.clip(frames, prompt)})
        colour = tuple(name for name in self.metrics if name in COLOUR_METRICS)
        if colour:  # one pass over the frames serves all three
            self._store(record, reasons, list(colour), lambda: colour_metrics(frames, colour))
        world = tuple(name for name in self.metrics if name in WORLD_METRICS)
        if world:
            self._world(record, reasons, frames, prompt, world)
        record["null_reasons"] = reasons
        return record

    def _world(self, record: dict[str, Any], reasons: dict[str, str], frames: np.ndarray, prompt: str | None,
               names: tuple[str, ...]) -> None:
        truth = parse_prompt(prompt or "")
        needs_prompt = [name for name in names if name != "palette_overshoot"]
        if truth is None:
            reason = "no prompt for this clip" if not prompt else "the prompt is not one of the synthetic world"
            record.update({name: None for name in needs_prompt})
            reasons.update({name: reason for name in needs_prompt})
            names = tuple(name for name in names if name not in needs_prompt)
        else:
            absent = [name for name in names if name in TEXTURE_METRICS and name not in applicable_texture_metrics(truth)]
            reason = ("the prompt's background is plain" if truth.texture_scale is None
                      else f"the prompt's texture is {truth.texture_scale}")
            record.update({name: None for name in absent})
            reasons.update({name: reason for name in absent})
            names = tuple(name for name in names if name not in absent)
        if names:
            self._store(record, reasons, list(names), lambda: world_metrics(frames, prompt, names))

    def _temporal(self, name: str, frames: np.ndarray) -> MetricResult:
        if name == "flicker":
            return temporal_flickering(frames)
        if name == "warping_error":
            return warping_error(frames, self.flow)
        return self.lpips(frames)

    @staticmethod
    def _store(record: dict[str, Any], reasons: dict[str, str], names: list[str], compute: Any) -> None:
        """Compute ``{name: MetricResult}`` into the record: the value, its per-frame or per-pair values and
        its details. A failure on one clip makes these metrics null with the reason, not the run fail."""
        try:
            results = compute()
        except Exception as error:
            log.warning("%s failed on a clip and is reported as null: %s: %s", ", ".join(names),
                        type(error).__name__, error)
            for name in names:
                record[name], reasons[name] = None, f"failed: {type(error).__name__}: {error}"
            return
        for name, result in results.items():
            record[name] = result.value
            if result.per_frame:
                record[f"{name}_per_frame"] = result.per_frame
            elif result.per_pair:
                record[f"{name}_per_pair"] = result.per_pair
            record.update({DETAIL_FIELDS[key]: value for key, value in result.details.items() if key in DETAIL_FIELDS})


def too_short_record(metrics: list[str], num_frames: int) -> dict[str, Any]:
    """The temporal metrics of a clip too short for them (an image): null, with the reason."""
    reason = f"a temporal metric needs at least 2 frames; this clip has {num_frames}"
    return {**{name: None for name in metrics}, "null_reasons": {name: reason for name in metrics}}
