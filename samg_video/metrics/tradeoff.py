"""The trade-off between prompt alignment and artifacts: guidance settings against CFG's Pareto front.

CFG at several scales gives points of (mean alignment, mean artifact). Its **front** is the CFG runs that no
other CFG run beats on both (at least as aligned and at most as many artifacts, better on one): a scale past
CFG's best, whose alignment falls while its artifacts grow, is not on it. Nothing is interpolated over the
scale, so a curve that is not monotonic (alignment peaking at a mid scale) is handled as it is.

Between its runs the front is taken as piecewise linear in (alignment, artifact), not over the scale: what
CFG at an intermediate scale attains is close to the blend of its neighbours on the front, and a staircase
through a coarse grid of scales would credit a setting with the gaps between them. A setting's **excess
artifact** ``e`` is its artifact minus the front's at the setting's alignment (between the two front runs
that bracket it; below the front's least aligned run, that run's), signed so that positive is more
artifacts. ``e < 0``: beyond the front; ``e > 0``: behind it. A setting that aligns better than every CFG
run is not compared: CFG was not rendered at scales that reach it. The verdict still depends on the CFG
scales rendered: render them densely where the settings land.

Uncertainty: a paired bootstrap over prompts (every run rendered the same prompts and seeds; a prompt is
resampled with all its seeds). Each replicate recomputes every run's means, the front, the setting's
reference and ``e``, so the interval carries the alignment's uncertainty (which CFG run is the reference)
as well as the artifacts'. The one-sided p-value of "beyond" is the share of replicates with ``e >= 0``
(``(1 + count) / (1 + replicates)``); across the settings compared, Holm's step-down correction keeps the
chance of any false "beyond" at ``alpha``. "Behind" is said when the whole 95 % interval of ``e`` is above 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Z95 = 1.959963984540054
RESAMPLES = 2000
ALPHA = 0.05


@dataclass(frozen=True)
class RunPoint:
    """One run's mean alignment and mean artifact, with their standard errors (for plots)."""

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


def pareto_front(alignment: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """Indices of the points that no other point beats on both (higher ``alignment``, lower ``excess``, better
    on one), sorted by alignment. Ties keep one point."""
    order = np.lexsort((excess, -alignment))  # by alignment, highest first; among equals, fewest artifacts
    front, best = [], math.inf
    for index in order:
        if excess[index] < best:
            front.append(index)
            best = excess[index]
    return np.array(sorted(front, key=lambda i: alignment[i]), dtype=int)


def excess_over_front(setting: tuple[float, float], cfg_alignment: np.ndarray, cfg_artifact: np.ndarray
                      ) -> tuple[float, tuple[int, int] | None]:
    """``(e, (lower, upper))``: the setting's artifact minus the front's at the setting's alignment, the front
    being piecewise linear between its runs (``lower`` and ``upper`` bracket the alignment; the same run at
    the front's low end); ``(nan, None)`` when every CFG run aligns worse. Artifacts here: lower is better."""
    front = pareto_front(cfg_alignment, cfg_artifact)
    alignment = setting[0]
    if alignment > cfg_alignment[front[-1]]:
        return math.nan, None
    upper = int(front[np.searchsorted(cfg_alignment[front], alignment)])  # the first aligning at least as well
    below = front[cfg_alignment[front] < alignment]
    if below.size == 0:  # below the whole front: its least aligned run is the reference
        return setting[1] - cfg_artifact[upper], (upper, upper)
    lower = int(below[-1])
    u = (alignment - cfg_alignment[lower]) / (cfg_alignment[upper] - cfg_alignment[lower])
    attained = cfg_artifact[lower] + u * (cfg_artifact[upper] - cfg_artifact[lower])
    return setting[1] - attained, (lower, upper)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given."""
    order = np.argsort(p_values, kind="stable")
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def front_comparison(alignment: dict[str, np.ndarray], artifact: dict[str, np.ndarray], prompts: Sequence[Any],
                     cfg: dict[str, float], lower_is_better: bool, resamples: int = RESAMPLES, seed: int = 0,
                     alpha: float = ALPHA) -> dict[str, Any]:
    """Every non-CFG run against CFG's front (see the module docstring).

    ``alignment`` and ``artifact`` hold each run's per-clip values over the same clips, in the same order
    (clips matched by prompt and seed); ``prompts`` names each clip's prompt (the bootstrap's unit); ``cfg``
    maps the CFG runs to their scales.
    """
    labels = list(alignment)
    sign = 1.0 if lower_is_better else -1.0
    groups = {prompt: number for number, prompt in enumerate(dict.fromkeys(prompts))}
    group_of = np.array([groups[p] for p in prompts])
    # per run and prompt: sums and counts, so that a replicate's means are sums over the drawn prompts
    counts = np.bincount(group_of, minlength=len(groups)).astype(np.float64)
    sums_a = {run: np.bincount(group_of, alignment[run], minlength=len(groups)) for run in labels}
    sums_y = {run: np.bincount(group_of, sign * artifact[run], minlength=len(groups)) for run in labels}
    cfg_runs = [run for run in labels if run in cfg]
    others = [run for run in labels if run not in cfg]

    def means(weights: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        total = weights @ counts
        return ({run: weights @ sums_a[run] / total for run in labels},
                {run: weights @ sums_y[run] / total for run in labels})

    full_a, full_y = means(np.ones((1, len(groups))))
    cfg_a = np.array([full_a[run][0] for run in cfg_runs])
    cfg_y = np.array([full_y[run][0] for run in cfg_runs])
    front = [cfg_runs[i] for i in pareto_front(cfg_a, cfg_y)] if cfg_runs else []
    draws = np.random.default_rng(seed).integers(0, len(groups), (resamples, len(groups)))
    weights = np.zeros((resamples, len(groups)))
    np.add.at(weights, (np.arange(resamples)[:, None], draws), 1.0)
    boot_a, boot_y = means(weights)
    boot_cfg_a = np.stack([boot_a[run] for run in cfg_runs], axis=1) if cfg_runs else None
    boot_cfg_y = np.stack([boot_y[run] for run in cfg_runs], axis=1) if cfg_runs else None

    settings = []
    for run in others:
        entry: dict[str, Any] = {"run": run, "alignment": float(full_a[run][0]), "artifact": float(sign * full_y[run][0])}
        if not cfg_runs:
            settings.append({**entry, "verdict": "no CFG run to compare with"})
            continue
        excess, bracket = excess_over_front((full_a[run][0], full_y[run][0]), cfg_a, cfg_y)
        if bracket is None:
            settings.append({**entry, "verdict": "aligns better than every CFG run: render CFG at higher scales"})
            continue
        replicates = np.array([excess_over_front((boot_a[run][b], boot_y[run][b]), boot_cfg_a[b], boot_cfg_y[b])[0]
                               for b in range(resamples)])
        defined = replicates[~np.isnan(replicates)]  # a replicate where it aligns better than every CFG run
        low, high = np.percentile(defined, [2.5, 97.5]) if defined.size else (math.nan, math.nan)
        # undefined replicates count against "beyond": nothing there shows fewer artifacts than CFG
        p_value = (1 + np.count_nonzero(~(replicates < 0))) / (1 + resamples)
        between = sorted({cfg_runs[bracket[0]], cfg_runs[bracket[1]]}, key=lambda r: cfg[r])
        settings.append({**entry, "reference": " to ".join(between), "reference_scales": [cfg[r] for r in between],
                         "front_artifact": float(sign * (full_y[run][0] - excess)),
                         "excess": float(excess), "ci_low": float(low), "ci_high": float(high),
                         "p_beyond": float(p_value)})
    tested = [s for s in settings if "p_beyond" in s]
    for setting, adjusted in zip(tested, holm([s["p_beyond"] for s in tested])):
        setting["p_beyond_holm"] = adjusted
        setting["verdict"] = ("beyond CFG's front: fewer artifacts than CFG at the same alignment"
                              if adjusted <= alpha else
                              "behind CFG's front: CFG has fewer artifacts at the same alignment"
                              if setting["ci_low"] > 0 else "on CFG's front: no difference after correction")
    return {"front": front, "cfg_scales": {run: cfg[run] for run in cfg_runs}, "clips": len(prompts),
            "prompts": len(groups), "resamples": resamples, "alpha": alpha, "settings": settings}
