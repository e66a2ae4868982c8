"""samg-video: text-to-video generation with SAMG (Spatial Adaptive Multi Guidance) in diffusers pipelines."""

from samg_video.api import apply_guidance, remove_guidance
from samg_video.guidance import CFG, SAMG, DynamicCFG, Guidance, Step

__all__ = ["CFG", "SAMG", "DynamicCFG", "Guidance", "Step", "apply_guidance", "remove_guidance"]
__version__ = "0.1.0"
