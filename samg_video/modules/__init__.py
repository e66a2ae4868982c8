"""The LightningModules: rendering clips with a guided diffusers pipeline, and scoring existing clips."""

from samg_video.modules.clip_evaluator import ClipEvaluator
from samg_video.modules.video_generator import VideoGenerator

__all__ = ["ClipEvaluator", "VideoGenerator"]
