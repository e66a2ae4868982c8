"""Temporal flickering, as defined by VBench (Huang et al., CVPR 2024), ``vbench/temporal_flickering.py``.

``MAE_t`` is the mean over ``H * W * 3`` of ``|f_{t+1} - f_t|`` on uint8 RGB frames, and
``flicker = (255 - mean_t MAE_t) / 255``: 1.0 for a static clip, higher is smoother. VBench scores
static-camera clips only (it filters with RAFT); here every clip is scored.
"""

from __future__ import annotations

from typing import Any

import cv2

from samg_video.metrics.frames import MetricResult, check_frames


def temporal_flickering(frames: Any) -> MetricResult:
    """VBench temporal flickering of ``(T, H, W, 3)`` uint8 RGB frames.

    Returns the score in ``[0, 1]``; ``per_pair`` holds the same score per frame pair,
    ``(255 - MAE_t) / 255`` (their mean is the score); ``details`` holds ``MAE_t`` on the 0-255 scale
    (``mean_abs_diff_per_pair``) and their mean (``mean_abs_diff``).
    """
    frames = check_frames(frames)
    samples = frames[0].size
    # cv2.norm sums |a - b| over uint8 exactly (in float64) without materialising a wider copy
    pair_mae = [cv2.norm(frames[t + 1], frames[t], cv2.NORM_L1) / samples for t in range(len(frames) - 1)]
    mean_abs_diff = sum(pair_mae) / len(pair_mae)
    return MetricResult(value=(255.0 - mean_abs_diff) / 255.0, per_pair=[(255.0 - mae) / 255.0 for mae in pair_mae],
                        details={"mean_abs_diff": mean_abs_diff, "mean_abs_diff_per_pair": pair_mae})
