"""samg-video: text-to-video generation with SAMG (Spatial Adaptive Multi Guidance) in diffusers pipelines.

The names below load on first use, so that the command line starts (and answers Ctrl-C) before torch
and diffusers are imported.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CFG", "SAMG", "DynamicCFG", "Guidance", "Step", "apply_guidance", "remove_guidance"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("apply_guidance", "remove_guidance"):
        from samg_video import guided_pipelines

        return getattr(guided_pipelines, name)
    if name in __all__:
        from samg_video import guidance

        return getattr(guidance, name)
    raise AttributeError(f"module 'samg_video' has no attribute {name!r}")
