"""The trade-off between prompt alignment and artifacts: a guidance setting against the CFG curve.

CFG at several scales traces a curve of (mean alignment, mean artifact): more scale, more prompt and
more artifacts. A setting lies *beyond* the curve when, at the same mean alignment, it has fewer
artifacts than CFG would. The CFG point at a setting's alignment ``a`` is interpolated linearly between
the two CFG runs whose alignments bracket ``a`` (weight ``u = (a - a_1) / (a_2 - a_1)``): its scale
``s_1 + u (s_2 - s_1)`` and its artifact ``y_1 + u (y_2 - y_1)``. The artifact difference is
``y - y_cfg`` with standard error ``sqrt(se^2 + (1 - u)^2 se_1^2 + u^2 se_2^2)`` (independent runs; the
alignment itself is taken as exact) and a normal 95 % interval (``1.96 se``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class RunPoint:
    """One run's mean alignment and mean artifact, with their standard errors."""

    label: str
    alignment: float
    alignment_se: float
    artifact: float
    artifact_se: float
    cfg_scale: float | None = None  # set for the runs that make the CFG curve


def mean_and_se(values: Sequence[float | None]) -> tuple[float | None, float, int]:
    """Mean, standard error of the mean (0 below 2 values) and count of the non-null values."""
    present = np.array([v for v in values if v is not None], dtype=np.float64)
    if present.size == 0:
        return None, 0.0, 0
    se = float(present.std(ddof=1) / math.sqrt(present.size)) if present.size > 1 else 0.0
    return float(present.mean()), se, int(present.size)


def matched_alignment(point: RunPoint, cfg: Sequence[RunPoint], lower_is_better: bool) -> dict[str, Any]:
    """``point`` against the CFG curve at its own mean alignment (see the module docstring)."""
    curve = sorted(cfg, key=lambda p: p.alignment)
    result: dict[str, Any] = {"run": point.label, "alignment": point.alignment, "artifact": point.artifact}
    if len(curve) < 2:
        return {**result, "verdict": "needs CFG runs at two scales or more"}
    for first, second in zip(curve, curve[1:]):
        if first.alignment <= point.alignment <= second.alignment and second.alignment > first.alignment:
            break
    else:
        low, high = curve[0].alignment, curve[-1].alignment
        return {**result, "verdict": f"alignment {point.alignment:.4g} is outside the CFG runs' [{low:.4g}, {high:.4g}]"}
    u = (point.alignment - first.alignment) / (second.alignment - first.alignment)
    cfg_artifact = first.artifact + u * (second.artifact - first.artifact)
    difference = point.artifact - cfg_artifact
    se = math.sqrt(point.artifact_se ** 2 + (1 - u) ** 2 * first.artifact_se ** 2 + u ** 2 * second.artifact_se ** 2)
    low, high = difference - Z95 * se, difference + Z95 * se
    better = high < 0 if lower_is_better else low > 0
    worse = low > 0 if lower_is_better else high < 0
    verdict = ("beyond the CFG curve: fewer artifacts at the same alignment" if better else
               "behind the CFG curve: more artifacts at the same alignment" if worse else
               "on the CFG curve: no difference at 95 %")
    scale = (first.cfg_scale + u * (second.cfg_scale - first.cfg_scale)
             if first.cfg_scale is not None and second.cfg_scale is not None else None)
    return {**result, "cfg_scale": scale, "cfg_artifact": cfg_artifact, "difference": difference,
            "ci_low": low, "ci_high": high, "between": [first.label, second.label], "verdict": verdict}
