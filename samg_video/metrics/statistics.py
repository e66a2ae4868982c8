"""Summaries over clips: mean, standard deviation and count per metric; paired differences between runs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def describe_values(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, sample standard deviation (n - 1; null below 2 values), count, and how many were null."""
    present = np.array([v for v in values if v is not None], dtype=np.float64)
    count = int(present.size)
    return {
        "mean": float(present.mean()) if count else None,
        "std": float(present.std(ddof=1)) if count > 1 else None,
        "count": count,
        "null_count": len(values) - count,
    }


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean of ``b - a`` over matched clips with a Student-t confidence interval."""
    from scipy import stats

    differences = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    count = int(differences.size)
    if count == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "count": 0}
    mean = float(differences.mean())
    if count < 2:
        return {"mean": mean, "ci_low": None, "ci_high": None, "count": count}
    half_width = float(stats.t.ppf(0.5 + confidence / 2, count - 1) * differences.std(ddof=1) / math.sqrt(count))
    return {"mean": mean, "ci_low": mean - half_width, "ci_high": mean + half_width, "count": count}


SUMMARY_METRICS = ("flicker", "mean_abs_diff", "warping_error", "temporal_lpips", "clip_score", "saturation",
                   "colorfulness", "clipped_fraction", "world_adherence", "world_all_correct", "world_colour",
                   "world_shape", "world_motion", "world_binding", "world_background", "palette_overshoot",
                   "texture_fidelity", "texture_fidelity_fine", "texture_fidelity_coarse")


UNKNOWN, MIXED = "unknown", "mixed"
# what the summary attributes the clips to; a value is named only when every clip records the same one
ATTRIBUTED_FIELDS = ("model", "guidance", "flow_backend", "frames")


def summarize_records(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run summary of per-clip metric records (one per clip id): statistics per metric, and the model,
    guidance, flow backend and frame origin of the clips.

    Each of those is named only when every clip records the same value; otherwise it is ``"unknown"``
    (no clip records one) or ``"mixed"``, with ``breakdown[field]`` counting the clips per value (null
    for clips that record none), so that foreign or mixed clips are never attributed to one model.
    """
    metrics = {name: describe_values([r.get(name) for r in records])
               for name in SUMMARY_METRICS if any(name in r for r in records)}
    reasons: dict[str, list[str]] = {}
    for record in records:
        for name, reason in (record.get("null_reasons") or {}).items():
            if reason not in reasons.setdefault(name, []):
                reasons[name].append(reason)
    summary: dict[str, Any] = {"clips": len(records)}
    breakdown = {}
    for field in ATTRIBUTED_FIELDS:
        summary[field], counts = attribution([r.get(field) for r in records])
        if summary[field] == MIXED:
            breakdown[field] = counts
    summary["metrics"] = metrics
    summary["null_reasons"] = reasons
    if breakdown:
        summary["breakdown"] = breakdown
    return summary


def attribution(values: Sequence[Any]) -> tuple[Any, list[dict[str, Any]]]:
    """The one value every clip shares, else ``"unknown"`` or ``"mixed"``; and the clips per value."""
    counts: list[dict[str, Any]] = []
    for value in values:
        entry = next((c for c in counts if c["value"] == value), None)
        if entry is None:
            counts.append({"value": value, "clips": 1})
        else:
            entry["clips"] += 1
    counts.sort(key=lambda c: (c["value"] is None, -c["clips"]))  # known values first, most clips first
    if len(counts) == 1 and counts[0]["value"] is not None:
        return counts[0]["value"], counts
    if all(c["value"] is None for c in counts):
        return UNKNOWN, counts
    return MIXED, counts
