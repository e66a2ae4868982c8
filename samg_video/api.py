"""Apply a guidance method to an already loaded diffusers pipeline.

    pipe = CogVideoXPipeline.from_pretrained("THUDM/CogVideoX-2b", torch_dtype=torch.bfloat16)
    apply_guidance(pipe, SAMG(w_min=4, w_max=9.6))
    video = pipe(prompt, guidance_scale=6).frames[0]
"""

from __future__ import annotations

from typing import Any

from samg_video.denoiser import GuidedDenoiser
from samg_video.families import family_of_pipeline
from samg_video.guidance.base import Guidance


def apply_guidance(pipeline: Any, guidance: Guidance) -> GuidedDenoiser:
    """Make ``pipeline`` combine its predictions with ``guidance``; returns the installed wrapper.

    Applying again replaces the previous guidance. Call the pipeline with ``guidance_scale > 1`` so it
    batches the unconditional and conditional passes; the guidance object decides the actual scale.
    """
    family = family_of_pipeline(pipeline)
    name = family.denoiser_attribute
    denoiser = getattr(pipeline, name)
    if isinstance(denoiser, GuidedDenoiser):
        denoiser = denoiser.denoiser
    wrapper = GuidedDenoiser(denoiser, guidance, family.layout, family.keeps_float32_prediction, pipeline)
    # bypass DiffusionPipeline.__setattr__, which would re-register the component under our class
    # in the pipeline config; save_pretrained then still saves the wrapped diffusers model
    object.__setattr__(pipeline, name, wrapper)
    return wrapper


def remove_guidance(pipeline: Any) -> None:
    """Restore the pipeline's own denoiser and its stock guidance."""
    name = family_of_pipeline(pipeline).denoiser_attribute
    denoiser = getattr(pipeline, name)
    if isinstance(denoiser, GuidedDenoiser):
        object.__setattr__(pipeline, name, denoiser.denoiser)
