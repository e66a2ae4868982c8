"""Model families: one module per family holds everything specific to it."""

from __future__ import annotations

from typing import Any

from samg_video.errors import ConfigurationError
from samg_video.families.base import DTYPES, TINY_SOURCE, TOY_MODEL_DIR, TOY_SOURCE, ModelFamily, Source, resolve_source
from samg_video.families.cogvideox import CogVideoXFamily
from samg_video.families.hunyuan import HunyuanVideo15Family
from samg_video.families.ltx import LTXFamily
from samg_video.families.modelscope import ModelScopeFamily
from samg_video.families.sd35 import StableDiffusion3Family
from samg_video.families.sdxl import StableDiffusionXLFamily
from samg_video.families.stable_diffusion import StableDiffusionFamily
from samg_video.families.wan import WanFamily

FAMILIES: dict[str, ModelFamily] = {
    family.name: family
    for family in (CogVideoXFamily(), ModelScopeFamily(), LTXFamily(), WanFamily(), HunyuanVideo15Family(),
                   StableDiffusionFamily(), StableDiffusionXLFamily(), StableDiffusion3Family())
}


def get_family(name: str) -> ModelFamily:
    if name not in FAMILIES:
        raise ConfigurationError(f"model.family={name!r} is not known; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]


def family_of_pipeline(pipeline: Any) -> ModelFamily:
    """The family whose pipeline class (or a subclass of it) ``pipeline`` is."""
    class_names = {cls.__name__ for cls in type(pipeline).__mro__}
    for family in FAMILIES.values():
        if class_names & set(family.pipeline_class_names):
            return family
    supported = ", ".join(name for family in FAMILIES.values() for name in family.pipeline_class_names)
    raise ConfigurationError(f"{type(pipeline).__name__} is not supported; supported pipelines: {supported}")


__all__ = ["DTYPES", "FAMILIES", "TINY_SOURCE", "TOY_MODEL_DIR", "TOY_SOURCE", "ModelFamily", "Source", "family_of_pipeline", "get_family",
           "resolve_source"]
