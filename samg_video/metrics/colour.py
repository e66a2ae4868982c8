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
# frames are scored in parallel (OpenCV releases the GIL)
WORKERS = 2
# S = spread / max for every pair of 8-bit values, in float64, index max * 256 + spread: a frame's mean
# saturation is a histogram of those pairs times this table. Exact, and independent of how OpenCV divides
# (OpenCV 5.1 divides 8-bit planes in float32 even for a float64 result: up to 6e-8 off per pixel)
_HIGH, _SPREAD = np.divmod(np.arange(256 * 256, dtype=np.int64), 256)
SATURATION_TABLE = np.where(_SPREAD <= _HIGH, _SPREAD / np.maximum(_HIGH, 1), 0.0)
# OpenCV's histogram counts in float32, exact below 2^24 per bin; larger frames are counted by numpy
EXACT_FLOAT32_COUNTS = 2**24


def frame_colour(frame: np.ndarray) -> tuple[float, float, float]:
    """Saturation, colourfulness and clipped fraction of one ``(H, W, 3)`` uint8 RGB frame."""
    r, g, b = cv2.split(frame)
    high = cv2.max(cv2.max(r, g), b)
    spread = cv2.subtract(high, cv2.min(cv2.min(r, g), b))
    pixels = high.size
    # spread is 0 wherever max is 0, and the table's entry for (0, 0) is 0: S = 0 there, as HSV defines it
    # an elementwise product and numpy's pairwise sum: a BLAS dot would start threads of its own inside ours
    saturation = float(np.sum(_pair_counts(high, spread) * SATURATION_TABLE)) / pixels
    colourfulness = _colourfulness(frame, r, g, b, pixels)
    values = frame.reshape(-1)
    clipped = (values.size - cv2.countNonZero(cv2.inRange(values, 1, 254))) / values.size
    return float(saturation), colourfulness, clipped


def _pair_counts(high: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """How many pixels have each (max, spread) pair, flat in the table's order."""
    if high.size < EXACT_FLOAT32_COUNTS:
        counts = cv2.calcHist([high, spread], [0, 1], None, [256, 256], [0, 256, 0, 256])
        return counts.reshape(-1).astype(np.float64)
    return np.bincount((high.astype(np.uint16) << 8 | spread).reshape(-1), minlength=256 * 256).astype(np.float64)


def _colourfulness(frame: np.ndarray, r: np.ndarray, g: np.ndarray, b: np.ndarray, pixels: int) -> float:
    """Hasler and Süsstrunk's M from integer moments, exact: no 16-bit difference images are made.

    With rg = R - G and yb2 = 2 yb = (R - B) + (G - B), the identity 2xy = x^2 + y^2 - (x - y)^2 gives
    sum(yb2^2) = 2 sum((R-B)^2) + 2 sum((G-B)^2) - sum((R-G)^2); each sum of squared differences is one
    ``cv2.norm`` of two 8-bit planes. All sums are integers below 2^53, so the variances are exact.
    """
    sum_r, sum_g, sum_b = (round(total) for total in cv2.sumElems(frame)[:3])
    # rounded: OpenCV may square a square root here, a few ulps off the integer it stands for
    square_rg = round(cv2.norm(r, g, cv2.NORM_L2SQR))
    square_rb = round(cv2.norm(r, b, cv2.NORM_L2SQR))
    square_gb = round(cv2.norm(g, b, cv2.NORM_L2SQR))
    sum_rg, sum_yb2 = sum_r - sum_g, sum_r + sum_g - 2 * sum_b
    square_yb2 = 2 * square_rb + 2 * square_gb - square_rg
    # population variance times pixels^2, in Python integers: no cancellation error
    variance_rg = (pixels * square_rg - sum_rg * sum_rg) / pixels**2
    variance_yb = (pixels * square_yb2 - sum_yb2 * sum_yb2) / (4 * pixels**2)
    return float(np.sqrt(variance_rg + variance_yb) + 0.3 * np.hypot(sum_rg / pixels, sum_yb2 / (2 * pixels)))


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
