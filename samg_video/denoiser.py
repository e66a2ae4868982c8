"""Run any guidance method inside diffusers' own denoising loops.

The stock pipelines stack ``[uncond, cond]``, call the denoiser once on the doubled batch, split it and
combine with their own scale. :class:`GuidedDenoiser` wraps the denoiser, computes the guided prediction
``g`` from the two halves and returns ``[g, g]``: the pipeline's combine ``u + s (c - u)`` then gives
exactly ``g`` whatever its own scale, so the pipeline's loop, scheduler and callbacks stay untouched.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

import torch

from samg_video.guidance.base import Guidance, Step


class StepCounter:
    """Step index and count of the current sampling loop, without reading device values.

    ``scheduler.set_timesteps`` makes a new ``timesteps`` tensor at the start of every pipeline call,
    so a new tensor object marks a new loop.
    """

    def __init__(self, scheduler: Callable[[], Any]):
        self.scheduler = scheduler
        self._timesteps: torch.Tensor | None = None
        self._index = 0

    def next(self, timestep: torch.Tensor | float) -> Step:
        timesteps = self.scheduler().timesteps
        if timesteps is not self._timesteps:
            self._timesteps, self._index = timesteps, 0
        step = Step(index=self._index, count=len(timesteps), timestep=timestep)
        self._index += 1
        return step


class GuidedDenoiser(torch.nn.Module):
    """A denoiser whose doubled-batch output is replaced by ``[g, g]`` with ``g`` the guided prediction.

    Attributes the pipeline reads from its denoiser (``config``, ``dtype``, ``device``, ``cache_context``,
    offload hooks) are forwarded to the wrapped module.
    """

    def __init__(self, denoiser: torch.nn.Module, guidance: Guidance, layout: str, keep_float32: bool,
                 pipeline: Any):
        super().__init__()
        self.denoiser = denoiser
        self.guidance = guidance
        self.layout = layout
        self.keep_float32 = keep_float32
        # a weak reference: the pipeline holds this wrapper, and follows scheduler swaps
        self._pipeline = weakref.ref(pipeline)
        self.steps = StepCounter(lambda: self._pipeline().scheduler)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["denoiser"], name)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        output = self.denoiser(*args, **kwargs)
        prediction = output[0] if isinstance(output, tuple) else output.sample
        self._check_doubled_batch(prediction)
        timestep = kwargs.get("timestep", args[1] if len(args) > 1 else None)
        step = self.steps.next(timestep)
        uncond, cond = prediction.chunk(2)
        guided = self.guidance(uncond, cond, self.layout, step)
        if not self.keep_float32:
            guided = guided.to(prediction.dtype)
        doubled = torch.cat([guided, guided])
        if isinstance(output, tuple):
            return (doubled, *output[1:])
        return type(output)(sample=doubled)

    def _check_doubled_batch(self, prediction: torch.Tensor) -> None:
        pipeline_scale = getattr(self._pipeline(), "_guidance_scale", None)
        if prediction.shape[0] % 2 or (pipeline_scale is not None and pipeline_scale <= 1):
            raise RuntimeError(
                "guidance needs the pipeline's classifier-free guidance batch: call the pipeline with "
                "guidance_scale > 1 (its value is not used; the guidance object sets the scale)"
            )
