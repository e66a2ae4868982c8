"""SAMG and DynamicCFG as diffusers guiders, for the pipelines that take their guidance as a component.

    from samg_video.guiders import SAMG
    pipe.guider = SAMG(w_min=4.0, w_max=9.6)        # HunyuanVideo 1.5 and the other guider-based pipelines
    video = pipe(prompt).frames[0]

The guider's ``forward`` hands the two predictions to the same objects of :mod:`samg_video.guidance` that
the forward hook of :mod:`samg_video.guided_pipelines` uses, so there is one copy of the math; the guider
adds diffusers' guider protocol (two conditions, ``start``/``stop``, ``enabled``) and its config, saved and
loaded with ``save_pretrained`` / ``from_pretrained`` like diffusers' own guiders. The statistics and the
scale map of the last loop are those of ``guider.method``.

The latent layout is given (``layout``: ``BCFHW``, ``BFCHW`` or ``BCHW``) or inferred from the prediction:
5 dimensions are diffusers' video layout ``(B, C, F, H, W)``, 4 an image ``(B, C, H, W)``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.guiders.guider_utils import BaseGuidance, GuiderOutput

from samg_video import guidance
from samg_video.errors import ConfigurationError
from samg_video.guidance.base import LAYOUTS, Guidance, Step

INFERRED_LAYOUTS = {5: "BCFHW", 4: "BCHW"}


class _PredictionsGuider(BaseGuidance):
    """The guider protocol for a method that combines a conditional and an unconditional prediction."""

    _input_predictions = ["pred_cond", "pred_uncond"]
    method: Guidance

    def __init__(self, layout: str | None, start: float, stop: float, enabled: bool):
        super().__init__(start, stop, enabled)
        if layout is not None and layout not in LAYOUTS:
            raise ConfigurationError(f"layout={layout!r} is not valid; choose one of {', '.join(LAYOUTS)}, or "
                                     "leave it unset to infer it from the prediction")
        self.layout = layout

    def prepare_inputs(self, data: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> list[Any]:
        indices = [0] if self.num_conditions == 1 else [0, 1]
        return [self._prepare_batch(data, index, name) for index, name in zip(indices, self._input_predictions)]

    def prepare_inputs_from_block_state(self, data: Any, input_fields: dict[str, Any]) -> list[Any]:
        indices = [0] if self.num_conditions == 1 else [0, 1]
        return [self._prepare_batch_from_block_state(input_fields, data, index, name)
                for index, name in zip(indices, self._input_predictions)]

    def forward(self, pred_cond: torch.Tensor, pred_uncond: torch.Tensor | None = None) -> GuiderOutput:
        if not self._is_guidance_enabled():
            return GuiderOutput(pred=pred_cond, pred_cond=pred_cond, pred_uncond=pred_uncond)
        step = Step(index=self._step or 0, count=self._num_inference_steps or 1, timestep=self._timestep)
        guided = self.method(pred_uncond, pred_cond, self._layout_of(pred_cond), step)
        return GuiderOutput(pred=guided.to(pred_cond.dtype), pred_cond=pred_cond, pred_uncond=pred_uncond)

    @property
    def is_conditional(self) -> bool:
        return self._count_prepared == 1

    @property
    def num_conditions(self) -> int:
        return 2 if self._is_guidance_enabled() else 1

    def _is_guidance_enabled(self) -> bool:
        if not self._enabled:
            return False
        if self._num_inference_steps is None:
            return True
        return int(self._start * self._num_inference_steps) <= self._step < int(self._stop * self._num_inference_steps)

    def _layout_of(self, prediction: torch.Tensor) -> str:
        if self.layout is not None:
            return self.layout
        if prediction.ndim not in INFERRED_LAYOUTS:
            raise ConfigurationError(f"cannot infer the latent layout of a {prediction.ndim}-dimensional prediction "
                                     f"{tuple(prediction.shape)}; give layout= one of {', '.join(LAYOUTS)}")
        return INFERRED_LAYOUTS[prediction.ndim]


class SAMG(_PredictionsGuider):
    """Spatial Adaptive Multi Guidance as a diffusers guider; the options are those of
    :class:`samg_video.guidance.SAMG`, plus ``layout`` and diffusers' ``start``, ``stop`` and ``enabled``."""

    @register_to_config
    def __init__(self, w_min: float = 4.0, w_max: float = 9.6, energy: str = "mean_square", norm_scope: str = "clip",
                 normalization: str = "minmax", quantile_bounds: tuple[float, float] = (0.01, 0.99),
                 mapping: str = "linear", threshold_quantile: float = 0.5, spatial_sigma: float = 0.0,
                 temporal_sigma: float = 0.0, step_ema: float = 0.0, layout: str | None = None, start: float = 0.0,
                 stop: float = 1.0, enabled: bool = True):
        super().__init__(layout, start, stop, enabled)
        self.method = guidance.SAMG(w_min, w_max, energy=energy, norm_scope=norm_scope, normalization=normalization,
                                    quantile_bounds=tuple(quantile_bounds), mapping=mapping,
                                    threshold_quantile=threshold_quantile, spatial_sigma=spatial_sigma,
                                    temporal_sigma=temporal_sigma, step_ema=step_ema)


class DynamicCFG(_PredictionsGuider):
    """CogVideoX's timestep-based dynamic CFG as a diffusers guider (see :class:`samg_video.guidance.DynamicCFG`)."""

    @register_to_config
    def __init__(self, scale: float = 6.0, layout: str | None = None, start: float = 0.0, stop: float = 1.0,
                 enabled: bool = True):
        super().__init__(layout, start, stop, enabled)
        self.method = guidance.DynamicCFG(scale)


class GuidanceGuider(_PredictionsGuider):
    """Any guidance object of :mod:`samg_video.guidance` (CFG, SAMG, APG, ...) as a diffusers guider: what
    ``apply_guidance`` puts into a guider-based pipeline. Its config holds the layout only; the method is
    the object given (its statistics and scale maps are that object's)."""

    @register_to_config
    def __init__(self, layout: str | None = None, start: float = 0.0, stop: float = 1.0, enabled: bool = True):
        super().__init__(layout, start, stop, enabled)
        self.method: Guidance | None = None

    @classmethod
    def around(cls, method: Guidance, layout: str | None = None) -> "GuidanceGuider":
        with quiet_experimental_notice():
            guider = cls(layout=layout)
        guider.method = method
        return guider


@contextlib.contextmanager
def quiet_experimental_notice() -> Iterator[None]:
    """Without diffusers' "guiders are experimental" warning, which every guider's construction logs: a
    run that puts guidance into a guider-based pipeline for the user says nothing the user did not ask."""
    logger = logging.getLogger("diffusers.guiders.guider_utils")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
