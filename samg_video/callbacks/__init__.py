"""Lightning callbacks: they do the run's I/O (clips, metadata, metrics, scale maps, progress, loggers)."""

from samg_video.callbacks.clip_metrics import ClipMetrics
from samg_video.callbacks.clip_writer import ClipWriter
from samg_video.callbacks.progress import ClipProgressBar
from samg_video.callbacks.scale_map_writer import ScaleMapWriter
from samg_video.callbacks.stop_on_signal import StopOnSignal

__all__ = ["ClipMetrics", "ClipProgressBar", "ClipWriter", "ScaleMapWriter", "StopOnSignal"]
