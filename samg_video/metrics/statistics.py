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


SUMMARY_METRICS = ("flicker", "mean_abs_diff", "warping_error", "temporal_lpips")


def summarize_records(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run summary of per-clip metric records (one per clip id): statistics per metric, and the
    model, guidance and flow backend the records name (a list when they differ)."""
    metrics = {name: describe_values([r.get(name) for r in records])
               for name in SUMMARY_METRICS if any(name in r for r in records)}
    reasons: dict[str, list[str]] = {}
    for record in records:
        for name, reason in (record.get("null_reasons") or {}).items():
            if reason not in reasons.setdefault(name, []):
                reasons[name].append(reason)
    return {
        "clips": len(records),
        "model": _distinct(r.get("model") for r in records),
        "guidance": _distinct(r.get("guidance") for r in records),
        "flow_backend": _distinct(r.get("flow_backend") for r in records),
        "frames": _distinct(r.get("frames") for r in records),
        "metrics": metrics,
        "null_reasons": reasons,
    }


def _distinct(values: Any) -> Any:
    unique: list[Any] = []
    for value in values:
        if value is not None and value not in unique:
            unique.append(value)
    return unique[0] if len(unique) == 1 else (unique or None)
