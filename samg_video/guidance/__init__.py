"""Guidance methods: how the unconditional and conditional predictions are combined at each step."""

from samg_video.guidance.apg import APG
from samg_video.guidance.base import LAYOUTS, Guidance, Layout, Step
from samg_video.guidance.cfg import CFG
from samg_video.guidance.cfg_rescale import CFGRescale
from samg_video.guidance.cfg_zero_star import CFGZeroStar
from samg_video.guidance.dynamic_cfg import DynamicCFG
from samg_video.guidance.mambo_g import MamboG
from samg_video.guidance.samg import SAMG

__all__ = ["APG", "CFG", "CFGRescale", "CFGZeroStar", "DynamicCFG", "Guidance", "LAYOUTS", "Layout", "MamboG", "SAMG",
           "Step"]
