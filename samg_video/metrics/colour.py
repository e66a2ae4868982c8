"""Colour and exposure: what over-saturation at high guidance scales moves. No weights.

- ``saturation``: HSV saturation ``S = (max - min) / max`` per pixel of R, G, B (0 where ``max = 0``), in
  [0, 1], mean over the pixels of a frame (the HSV model of Smith 1978, as Python's ``colorsys`` and
  OpenCV's ``COLOR_RGB2HSV`` compute it; OpenCV then rounds ``S * 255`` for 8-bit output).
- ``colorfulness``: Hasler and Süsstrunk 2003, "Measuring colourfulness in natural images", on 8-bit
  R, G, B: ``rg = R - G``, ``yb = (R + G) / 2 - B``,
  ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)`` over the pixels of a frame
  (population standard deviation).
- ``clipped_fraction``: share of the channel values of a frame that are exactly 0 or 255: exposure blown
  out or crushed.

For a clip each is the mean over its frames, the per-frame values kept. Higher saturation or
colourfulness is not worse by itself: compare against CFG at matched prompt alignment.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import numpy as np

from samg_video.metrics.frames import MetricResult, check_frames

COLOUR_METRICS = ("saturation", "colorfulness", "clipped_fraction")
# S = spread / max for every (max, spread) pair of 8-bit values: the saturation of a frame is the dot
# product of this table with the frame's 2D histogram of (max, spread), exact and without a float image
_MAX = np.arange(256, dtype=np.float64)[:, None]
_SATURATION_OF = np.where(_MAX > 0, np.arange(256, dtype=np.float64)[None, :] / np.maximum(_MAX, 1), 0.0)
# frames are scored in parallel (OpenCV releases the GIL)
WORKERS = 2


def frame_colour(frame: np.ndarray) -> tuple[float, float, float]:
    """Saturation, colourfulness and clipped fraction of one ``(H, W, 3)`` uint8 RGB frame."""
    r, g, b = cv2.split(frame)
    high = cv2.max(cv2.max(r, g), b)
    spread = cv2.subtract(high, cv2.min(cv2.min(r, g), b))
    histogram = cv2.calcHist([cv2.merge([high, spread])], [0, 1], None, [256, 256], [0, 256, 0, 256])
    pixels = high.size
    saturation = float((histogram * _SATURATION_OF).sum() / pixels)
    # in 16-bit integers, exact: rg = R - G and 2 yb = R + G - 2B
    rg = cv2.subtract(r, g, dtype=cv2.CV_16S)
    yb2 = cv2.subtract(cv2.add(r, g, dtype=cv2.CV_16S), cv2.add(b, b, dtype=cv2.CV_16S), dtype=cv2.CV_16S)
    (mean_rg,), (std_rg,) = cv2.meanStdDev(rg)
    (mean_yb2,), (std_yb2,) = cv2.meanStdDev(yb2)
    colourfulness = float(np.hypot(std_rg[0], std_yb2[0] / 2) + 0.3 * np.hypot(mean_rg[0], mean_yb2[0] / 2))
    values = frame.reshape(-1)
    clipped = (values.size - cv2.countNonZero(cv2.inRange(values, 1, 254))) / values.size
    return saturation, colourfulness, clipped


def colour_metrics(frames: Any, names: tuple[str, ...] = COLOUR_METRICS) -> dict[str, MetricResult]:
    """The named colour metrics of ``(T, H, W, 3)`` uint8 RGB frames (an image: ``T = 1``), in one pass."""
    frames = check_frames(frames, min_frames=1)
    if len(frames) > 1:
        with ThreadPoolExecutor(WORKERS) as pool:
            per_frame = list(pool.map(frame_colour, frames))
    else:
        per_frame = [frame_colour(frames[0])]
    results = {}
    for index, name in enumerate(COLOUR_METRICS):
        if name in names:
            values = [frame_values[index] for frame_values in per_frame]
            results[name] = MetricResult(value=float(np.mean(values)), per_pair=[], per_frame=values)
    return results


def saturation(frames: Any) -> MetricResult:
    """Mean HSV saturation in [0, 1] of ``(T, H, W, 3)`` uint8 RGB frames."""
    return colour_metrics(frames, ("saturation",))["saturation"]


def colorfulness(frames: Any) -> MetricResult:
    """Hasler and Süsstrunk's colourfulness ``M`` of ``(T, H, W, 3)`` uint8 RGB frames (0 for grey)."""
    return colour_metrics(frames, ("colorfulness",))["colorfulness"]


def clipped_fraction(frames: Any) -> MetricResult:
    """Share of channel values at 0 or 255 in ``(T, H, W, 3)`` uint8 RGB frames, in [0, 1]."""
    return colour_metrics(frames, ("clipped_fraction",))["clipped_fraction"]
