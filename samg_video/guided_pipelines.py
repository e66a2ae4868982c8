"""Run any guidance method inside diffusers' own pipelines, through a forward hook on the stock denoiser.

    pipe = CogVideoXPipeline.from_pretrained("THUDM/CogVideoX-2b", torch_dtype=torch.bfloat16)
    apply_guidance(pipe, SAMG(w_min=4, w_max=9.6))
    video = pipe(prompt, guidance_scale=6).frames[0]

The stock pipelines stack ``[uncond, cond]``, call the denoiser once on the doubled batch, split it and
combine with their own scale. The hook replaces the denoiser's output by ``[g, g]``, ``g`` the guided
prediction computed from the two halves: the pipeline's combine ``u + s (c - u)`` then gives exactly ``g``
whatever its own scale, so the loop, scheduler and callbacks stay diffusers' own. The denoiser stays the
module it is, so ``save_pretrained``, ``pipeline.components``, offload hooks and ``torch.compile`` all see
the real model.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

import torch

from samg_video.families import family_of_pipeline
from samg_video.guidance.base import Guidance, Step

# the attribute of a guided denoiser that holds its hook (and says that it is guided)
HOOK_ATTRIBUTE = "_samg_video_guidance_hook"
# on the guider that apply_guidance puts into a guider-based pipeline: the pipeline's own, restored on removal
STOCK_GUIDER_ATTRIBUTE = "_samg_video_stock_guider"


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


class GuidanceHook:
    """A forward hook that replaces the denoiser's doubled-batch output by ``[g, g]``.

    Args:
        guidance: how the two halves are combined.
        layout: the latent layout of the family (``BFCHW``, ``BCFHW``, ``BCHW``).
        keep_float32: return the combine in float32, as pipelines that upcast before combining do.
        pipeline: the pipeline whose scheduler numbers the steps (held weakly: the pipeline holds the
            denoiser, which holds this hook).
        to_grid: the prediction in ``layout`` from the denoiser's output and call, and the way back (see
            ``ModelFamily.to_grid``); unset, the prediction is in ``layout`` already.
    """

    def __init__(self, guidance: Guidance, layout: str, keep_float32: bool, pipeline: Any,
                 to_grid: Callable[[torch.Tensor, dict[str, Any]], tuple[torch.Tensor, Any]] | None = None):
        self.guidance = guidance
        self.layout = layout
        self.to_grid = to_grid or (lambda prediction, kwargs: (prediction, None))
        self.keep_float32 = keep_float32
        self._pipeline = weakref.ref(pipeline)
        self.steps = StepCounter(lambda: self._pipeline().scheduler)
        self.handle: torch.utils.hooks.RemovableHandle | None = None

    def __call__(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> Any:
        prediction = output[0] if isinstance(output, tuple) else output.sample
        self._check_doubled_batch(prediction)
        timestep = kwargs.get("timestep", args[1] if len(args) > 1 else None)
        grid, back = self.to_grid(prediction, kwargs)  # packed tokens (LTX) become the voxel grid they are
        uncond, cond = grid.chunk(2)
        guided = self.guidance(uncond, cond, self.layout, self.steps.next(timestep))
        if back is not None:
            guided = back(guided)
        if not self.keep_float32:
            guided = guided.to(prediction.dtype)
        doubled = torch.cat([guided, guided])
        if isinstance(output, tuple):
            return (doubled, *output[1:])
        return type(output)(sample=doubled)

    def _check_doubled_batch(self, prediction: torch.Tensor) -> None:
        pipeline = self._pipeline()
        pipeline_scale = getattr(pipeline, "_guidance_scale", None) if pipeline is not None else None
        if prediction.shape[0] % 2 or (pipeline_scale is not None and pipeline_scale <= 1):
            raise RuntimeError(
                "guidance needs the pipeline's classifier-free guidance batch: call the pipeline with "
                "guidance_scale > 1 (its value is not used; the guidance object sets the scale)"
            )


class SeparateCallsGuidanceHook(GuidanceHook):
    """For pipelines that call the denoiser twice per step, conditional first, then unconditional, and
    combine ``u + s (c - u)`` themselves (Wan).

    The conditional output is returned as it is and kept. At the unconditional call the guided ``g`` is
    computed from both and written into the kept conditional tensor, which the pipeline already holds,
    and returned as the unconditional output: the pipeline's combine is then ``g + s (g - g) = g``
    exactly, whatever its scale. Nothing reads the conditional output between the two calls.

    Args:
        scale_attribute: the pipeline attribute with the scale the pipeline combines with for this
            denoiser (``_guidance_scale``; Wan 2.2's second expert ``_guidance_scale_2``): it must be > 1
            for the pipeline to make the unconditional call at all.
        steps: the step counter, shared by the hooks of one pipeline's denoisers.
    """

    def __init__(self, guidance: Guidance, layout: str, keep_float32: bool, pipeline: Any,
                 scale_attribute: str = "_guidance_scale", steps: StepCounter | None = None):
        super().__init__(guidance, layout, keep_float32, pipeline)
        self.scale_attribute = scale_attribute
        self.steps = steps or self.steps
        self._conditional: torch.Tensor | None = None
        self._loop_timesteps: torch.Tensor | None = None

    def __call__(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> Any:
        prediction = output[0] if isinstance(output, tuple) else output.sample
        pipeline = self._pipeline()
        scale = getattr(pipeline, self.scale_attribute, None) if pipeline is not None else None
        if scale is not None and scale <= 1:
            raise RuntimeError(
                "guidance needs the pipeline's classifier-free guidance calls: call the pipeline with "
                "guidance_scale > 1 (its value is not used; the guidance object sets the scale)"
            )
        timesteps = pipeline.scheduler.timesteps if pipeline is not None else None
        if timesteps is not self._loop_timesteps:  # a new sampling loop: nothing pending from an earlier one
            self._loop_timesteps, self._conditional = timesteps, None
        if self._conditional is None:
            self._conditional = prediction
            return output
        conditional, self._conditional = self._conditional, None
        timestep = kwargs.get("timestep", args[1] if len(args) > 1 else None)
        guided = self.guidance(prediction, conditional, self.layout, self.steps.next(timestep))
        guided = guided.to(prediction.dtype)
        conditional.copy_(guided)
        if isinstance(output, tuple):
            return (guided, *output[1:])
        return type(output)(sample=guided)


def apply_guidance(pipeline: Any, guidance: Guidance) -> Any:
    """Make ``pipeline`` combine its predictions with ``guidance``; returns the installed hook (the first
    denoiser's, where a pipeline has two: Wan 2.2 A14B), or for a guider-based pipeline (HunyuanVideo 1.5)
    the guider that now holds ``guidance``.

    Applying again replaces the previous guidance. Call the pipeline with ``guidance_scale > 1`` so it
    makes the unconditional and conditional passes; the guidance object decides the actual scale.
    """
    family = family_of_pipeline(pipeline)
    remove_guidance(pipeline)
    if family.guidance_route == "guider":
        from samg_video.guiders import GuidanceGuider

        stock = pipeline.guider
        pipeline.guider = GuidanceGuider.around(guidance, family.layout)
        setattr(pipeline.guider, STOCK_GUIDER_ATTRIBUTE, stock)
        return pipeline.guider
    hooks = []
    for index, denoiser in enumerate(_denoisers(pipeline, family)):
        if family.separate_guidance_calls:
            scale_attribute = "_guidance_scale" if index == 0 else "_guidance_scale_2"
            hook = SeparateCallsGuidanceHook(guidance, family.layout, family.keeps_float32_prediction, pipeline,
                                             scale_attribute, steps=hooks[0].steps if hooks else None)
        else:
            hook = GuidanceHook(guidance, family.layout, family.keeps_float32_prediction, pipeline, family.to_grid)
        hook.handle = denoiser.register_forward_hook(hook, with_kwargs=True)
        setattr(denoiser, HOOK_ATTRIBUTE, hook)
        hooks.append(hook)
    return hooks[0]


def remove_guidance(pipeline: Any) -> None:
    """Restore the pipeline's stock guidance (a pipeline without guidance applied is left as it is)."""
    family = family_of_pipeline(pipeline)
    if family.guidance_route == "guider":
        stock = getattr(getattr(pipeline, "guider", None), STOCK_GUIDER_ATTRIBUTE, None)
        if stock is not None:
            pipeline.guider = stock
        return
    for denoiser in _denoisers(pipeline, family):
        hook = guidance_hook(denoiser)
        if hook is not None:
            hook.handle.remove()
            delattr(denoiser, HOOK_ATTRIBUTE)


def _denoisers(pipeline: Any, family: Any) -> list[torch.nn.Module]:
    names = (family.denoiser_attribute, *family.extra_denoiser_attributes)
    return [getattr(pipeline, name) for name in names if getattr(pipeline, name, None) is not None]


def guidance_hook(denoiser: torch.nn.Module) -> GuidanceHook | None:
    """The guidance hook installed on ``denoiser``, or None."""
    return getattr(denoiser, HOOK_ATTRIBUTE, None)
