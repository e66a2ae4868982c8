"""Compare the metrics of two or more runs (rendering or evaluation output folders), and the trade-off
between prompt alignment and artifacts.

    python scripts/compare_runs.py outputs/cogvideox_cfg outputs/cogvideox_samg --out reports/samg_vs_cfg

Clips are matched across runs by prompt and seed (by clip id when a run has no prompts, e.g. an
evaluation of foreign clips). Writes ``REPORT_DIR/report.md`` (per metric: mean +- std per run, and
each run's paired difference from the first run with a 95% Student-t confidence interval; each run's
guidance with every option that differs from its default), ``report.json`` with the same numbers, and
the trade-off plots. With ``--per_clip_plots``, also ``REPORT_DIR/per_clip/``: a per-clip scatter of the
first run against each other run per metric, and per-frame-pair warping-error curves for a few clips.

The trade-off section puts an alignment metric (``--alignment``, default ``clip_score``) against each
artifact metric: a plot of every run's means with 95 % intervals, the CFG runs (guidance
``samg_video.guidance.CFG``) with their Pareto front, and a table placing every other run against that
front with paired-bootstrap intervals and Holm's correction (``samg_video/metrics/tradeoff.py``).
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from samg_video.cli.script_args import ScriptParser, output_folder_problem, whole_number
from samg_video.files.records import read_records
from samg_video.files.resume import complete_metadata
from samg_video.files.run_files import METRICS_FILE, SUMMARY_JSON
from samg_video.guidance.labels import guidance_label
from samg_video.metrics.statistics import describe_values, paired_difference, summarize_records
from samg_video.metrics.tradeoff import Z95, RunPoint, front_comparison, mean_and_se

METRICS = {  # name: (label, which direction is better)
    "flicker": ("temporal flickering (VBench)", "higher"),
    "warping_error": ("warping error (Lai et al.)", "lower"),
    "temporal_lpips": ("temporal LPIPS", "lower"),
    "clip_score": ("CLIP score (prompt alignment)", "higher"),
    # not better or worse by themselves: compare at matched prompt alignment
    "saturation": ("HSV saturation", None),
    "colorfulness": ("colourfulness (Hasler and Süsstrunk)", None),
    "clipped_fraction": ("clipped fraction (channel values at 0 or 255)", None),
    # the synthetic world's ground truth (clips of the toy model): samg_video/metrics/world.py
    "world_adherence": ("world adherence (mean of colour, shape, motion, binding, background)", "higher"),
    "world_all_correct": ("world: every object and the background right", "higher"),
    "world_colour": ("world: objects found in their colour", "higher"),
    "world_shape": ("world: objects with their shape", "higher"),
    "world_motion": ("world: objects with their motion", "higher"),
    "world_binding": ("world: every object with its own shape and motion", "higher"),
    "world_background": ("world: background right", "higher"),
    "palette_overshoot": ("colour beyond the world's palette (8-bit levels)", "lower"),
    "texture_fidelity": ("texture fidelity (correlation with the true background)", "higher"),
    "texture_fidelity_fine": ("texture fidelity, fine textures (one latent cell)", "higher"),
    "texture_fidelity_coarse": ("texture fidelity, coarse textures (two latent cells)", "higher"),
}


# the artifact metrics of the trade-off, and whether lower is better (fewer artifacts)
ARTIFACTS = {"saturation": True, "clipped_fraction": True, "warping_error": True, "flicker": False,
             "temporal_lpips": True, "palette_overshoot": True, "texture_fidelity": False,
             "texture_fidelity_fine": False, "texture_fidelity_coarse": False}
# Okabe and Ito's colour-blind-safe palette
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


# the per-clip plots (one per metric and run: most of a sweep's files), apart from the report's own
PER_CLIP_FOLDER = "per_clip"


class RunError(ValueError):
    pass


def load_run(directory: Path) -> dict[str, Any]:
    """A run's metric lines keyed for matching, its label and what its summary says about it."""
    lines_path = directory / METRICS_FILE
    if not lines_path.is_file():
        raise RunError(f"{directory}: no {METRICS_FILE}; run it with the ClipMetrics callback, or score its clips "
                       "with configs/evaluate_clips.yaml")
    found = read_records(lines_path)  # lines that are not clip records are skipped, each with a warning
    records = complete_records(directory, list(found.records.values()))
    if not records:
        raise RunError(f"{lines_path} holds no clip records" + (f" ({len(found.damaged)} damaged lines)"
                                                              if found.damaged else ""))
    keyed: dict[tuple, dict[str, Any]] = {}
    for record in records:
        key = match_key(record)
        if key in keyed:
            print(f"compare_runs: warning: {directory}: clips {keyed[key]['id']} and {record['id']} have the same "
                  "prompt and seed; only the last is compared", file=sys.stderr)
        keyed[key] = record
    summary = read_summary(directory / SUMMARY_JSON)
    reasons = summarize_records(records)["null_reasons"]
    return {"dir": directory, "label": directory.name, "records": keyed, "summary": summary, "reasons": reasons,
            "damaged_lines": len(found.damaged)}


def read_summary(path: Path) -> dict[str, Any]:
    """A run's summary.json; empty (the guidance then reads ``unknown``) when it is missing or damaged."""
    if not path.is_file():
        return {}
    try:
        summary = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as error:
        print(f"compare_runs: warning: {path} cannot be read ({error}); the run's guidance is unknown",
              file=sys.stderr)
        return {}
    return summary if isinstance(summary, dict) else {}


def complete_records(directory: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of complete clips. In a rendering run's folder (it holds clips' JSON) a clip counts only when
    its JSON matches its media file (size and SHA-256), as resume decides; an evaluation run's folder holds
    no clip JSON, and its records are the clips it scored."""
    rendered = {path.stem for path in directory.glob("*.json") if not path.name.startswith(".")
                and path.name != SUMMARY_JSON}
    if not rendered:
        return records
    kept = [record for record in records if record["id"] in rendered and complete_metadata(directory, record["id"])]
    if len(kept) < len(records):
        print(f"compare_runs: warning: {directory}: {len(records) - len(kept)} of {len(records)} clips with metrics "
              "are not complete (no JSON, or a JSON that does not match its media file); left out", file=sys.stderr)
    return kept


def match_key(record: dict[str, Any]) -> tuple:
    if record.get("prompt") is not None and record.get("seed") is not None:
        return ("prompt", record["prompt"], int(record["seed"]))
    return ("id", record["id"])


def matched_keys(base: dict[str, Any], other: dict[str, Any], metric: str) -> list[tuple]:
    """Clips present in both runs with a value of ``metric`` in each."""
    return [key for key, record in base["records"].items()
            if record.get(metric) is not None and other["records"].get(key, {}).get(metric) is not None]


def compare(runs: list[dict[str, Any]], metrics: list[str]) -> dict[str, Any]:
    """Per metric: statistics per run over all its clips, and paired differences from the first run."""
    base = runs[0]
    result: dict[str, Any] = {"runs": [{"label": r["label"], "dir": str(r["dir"]), "clips": len(r["records"]),
                                        "guidance": guidance_label(r["summary"].get("guidance")),
                                        "damaged_lines": r.get("damaged_lines", 0)} for r in runs],
                              "metrics": {}}
    for metric in metrics:
        per_run = {r["label"]: describe_values([rec.get(metric) for rec in r["records"].values()]) for r in runs}
        paired = {}
        for other in runs[1:]:
            keys = matched_keys(base, other, metric)
            paired[other["label"]] = paired_difference([base["records"][k][metric] for k in keys],
                                                       [other["records"][k][metric] for k in keys])
        reasons = sorted({reason for r in runs for reason in r["reasons"].get(metric, [])})
        result["metrics"][metric] = {"per_run": per_run, "paired_vs_first": paired, "null_reasons": reasons}
    return result


def markdown(result: dict[str, Any], plots: list[str]) -> str:
    runs = result["runs"]
    first = runs[0]["label"]
    out = ["# Comparison of runs: temporal consistency, colour and exposure", ""]
    out += ["| run | guidance | clips | folder |", "|---|---|---|---|"]
    out += [f"| {r['label']} | {r['guidance']} | {r['clips']} | `{r['dir']}` |" for r in runs]
    for metric, numbers in result["metrics"].items():
        label, better = METRICS[metric]
        direction = f"{better} is better" if better else "neither higher nor lower is better by itself"
        out += ["", f"## {label} (`{metric}`, {direction})", "", "| run | mean ± std | clips |", "|---|---|---|"]
        for r in runs:
            s = numbers["per_run"][r["label"]]
            out.append(f"| {r['label']} | {_mean_std(s)} | {s['count']} |")
        if numbers["null_reasons"]:
            nulls = sum(s["null_count"] for s in numbers["per_run"].values())
            total = nulls + sum(s["count"] for s in numbers["per_run"].values())
            which = "every clip" if nulls == total else f"{nulls} of {total} clips"
            out += ["", f"Null for {which}: " + "; ".join(numbers["null_reasons"])]
        out += ["", f"Paired difference (run − {first}) over clips matched by prompt and seed, 95% CI:", "",
                "| run | mean difference | 95% CI | matched clips |", "|---|---|---|---|"]
        for name, d in numbers["paired_vs_first"].items():
            ci = "n/a" if d["ci_low"] is None else f"[{d['ci_low']:+.4g}, {d['ci_high']:+.4g}]"
            mean = "n/a" if d["mean"] is None else f"{d['mean']:+.4g}"
            out.append(f"| {name} | {mean} | {ci} | {d['count']} |")
    if plots:
        curves = [p for p in plots if p.endswith("warping_error_curves.png")]
        out += ["", "## Per-clip plots", "", f"{len(plots)} plots in [{PER_CLIP_FOLDER}/]({PER_CLIP_FOLDER}/): each metric "
                "per clip, the first run against each other run (`scatter_METRIC_RUN_vs_FIRST.png`), and the "
                "warping error per frame pair of a few clips:", ""] + [f"![{p}]({p})" for p in curves]
    out += ["", "Flicker is reported for every clip (VBench scores static-camera clips only). Warping error depends on "
            "the flow backend recorded in each run's metrics.jsonl; compare runs scored with the same backend.", ""]
    return "\n".join(out)


def _mean_std(s: dict[str, Any]) -> str:
    if s["mean"] is None:
        return "n/a"
    return f"{s['mean']:.4g} ± {s['std']:.2g}" if s["std"] is not None else f"{s['mean']:.4g}"


def plot(runs: list[dict[str, Any]], metrics: list[str], out_dir: Path, curves: int) -> list[str]:
    """Per-clip plots into ``out_dir``: a scatter of the first run against each other run per metric, and the
    warping-error curves of a few clips; their names relative to ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    base = runs[0]
    for metric in metrics:
        for other in runs[1:]:
            keys = matched_keys(base, other, metric)
            if not keys:
                continue
            x = [base["records"][k][metric] for k in keys]
            y = [other["records"][k][metric] for k in keys]
            figure, axes = plt.subplots(figsize=(4.5, 4.5))
            axes.scatter(x, y, s=14)
            low, high = min(x + y), max(x + y)
            axes.plot([low, high], [low, high], color="gray", linewidth=0.8, linestyle="--")
            axes.set_xlabel(f"{base['label']}")
            axes.set_ylabel(f"{other['label']}")
            axes.set_title(f"{METRICS[metric][0]}, per clip")
            name = f"scatter_{metric}_{other['label']}_vs_{base['label']}.png"
            figure.tight_layout()
            figure.savefig(out_dir / name, dpi=110)
            plt.close(figure)
            written.append(name)
    shared = [k for k in base["records"] if all(k in r["records"] and r["records"][k].get("warping_error_per_pair")
                                                for r in runs)][:curves]
    if shared:
        figure, axes = plt.subplots(len(shared), 1, figsize=(7, 2.2 * len(shared)), squeeze=False)
        for axis, key in zip(axes[:, 0], shared):
            for run in runs:
                axis.plot(run["records"][key]["warping_error_per_pair"], label=run["label"], linewidth=1)
            axis.set_title(str(key[1])[:70], fontsize=8)
            axis.set_ylabel("warping error")
        axes[-1, 0].set_xlabel("frame pair (t, t+1)")
        axes[0, 0].legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(out_dir / "warping_error_curves.png", dpi=110)
        plt.close(figure)
        written.append("warping_error_curves.png")
    return written


def cfg_scale(summary: dict[str, Any]) -> float | None:
    """The scale of a run rendered with plain CFG (every step's unconditional branch computed), else None."""
    guidance = summary.get("guidance")
    model = summary.get("model")
    if isinstance(model, dict) and (model.get("guidance_cache_interval") or 1) > 1:
        return None  # cached guidance is a setting to place against CFG's front, not a point of it
    if isinstance(guidance, dict) and str(guidance.get("class_path", "")).rsplit(".", 1)[-1] == "CFG":
        scale = (guidance.get("init_args") or {}).get("scale")
        return float(scale) if isinstance(scale, (int, float)) else None
    return None


def tradeoff(runs: list[dict[str, Any]], alignment: str, artifacts: list[str]) -> dict[str, Any]:
    """Per artifact metric: every run's point, and every non-CFG run against CFG's Pareto front, over the clips
    every run has both values of (``samg_video/metrics/tradeoff.py``)."""
    result: dict[str, Any] = {"alignment": alignment, "artifacts": {}}
    for artifact in artifacts:
        usable = [run for run in runs if any(r.get(alignment) is not None and r.get(artifact) is not None
                                             for r in run["records"].values())]
        keys = [key for key in usable[0]["records"] if all(
            run["records"].get(key, {}).get(alignment) is not None and run["records"].get(key, {}).get(artifact)
            is not None for run in usable)] if usable else []
        if not keys:
            continue
        values = {name: {run["label"]: np.array([run["records"][key][name] for key in keys], dtype=np.float64)
                         for run in usable} for name in (alignment, artifact)}
        scales = {run["label"]: cfg_scale(run["summary"]) for run in usable}
        points = []
        for run in usable:
            a, a_se, _ = mean_and_se(list(values[alignment][run["label"]]))
            y, y_se, _ = mean_and_se(list(values[artifact][run["label"]]))
            points.append(RunPoint(run["label"], a, a_se, y, y_se, scales[run["label"]]))
        comparison = front_comparison(values[alignment], values[artifact], [str(key[1]) for key in keys],
                                      {label: scale for label, scale in scales.items() if scale is not None},
                                      ARTIFACTS[artifact])
        result["artifacts"][artifact] = {"points": [vars(p) for p in points], **comparison}
    return result


def plot_tradeoff(result: dict[str, Any], out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    alignment = result["alignment"]
    for artifact, numbers in result["artifacts"].items():
        points = [RunPoint(**p) for p in numbers["points"]]
        cfg = sorted((p for p in points if p.cfg_scale is not None), key=lambda p: p.cfg_scale)
        front = [p for p in sorted(cfg, key=lambda p: p.alignment) if p.label in numbers["front"]]
        others = [p for p in points if p.cfg_scale is None]
        figure, axes = plt.subplots(figsize=(8.6, 4.8))
        if cfg:
            axes.errorbar([p.alignment for p in cfg], [p.artifact for p in cfg],
                          xerr=[Z95 * p.alignment_se for p in cfg], yerr=[Z95 * p.artifact_se for p in cfg],
                          color=PALETTE[0], marker="o", linewidth=0.8, linestyle=":", capsize=3,
                          label="CFG (scale), in order of scale")
            for p in cfg:
                axes.annotate(f"{p.cfg_scale:g}", (p.alignment, p.artifact), textcoords="offset points",
                              xytext=(6, -10), fontsize=8, color=PALETTE[0])
        if front:  # what CFG attains: no CFG run beats these on both
            axes.plot([p.alignment for p in front], [p.artifact for p in front], color=PALETTE[0],
                      linewidth=2.2, alpha=0.45, label="CFG's Pareto front")
        # every run a colour and a marker of its own: the colour cycle and the marker cycle differ in length
        markers = "s^DvP*Xhp<>d"
        for index, p in enumerate(others):
            axes.errorbar([p.alignment], [p.artifact], xerr=[Z95 * p.alignment_se], yerr=[Z95 * p.artifact_se],
                          color=PALETTE[1 + index % (len(PALETTE) - 1)], marker=markers[index % len(markers)],
                          markersize=7, linestyle="none", capsize=3, label=p.label)
        label, better = METRICS[artifact]
        axes.set_xlabel(textwrap.fill(f"{METRICS[alignment][0]}, higher follows the prompt more", 70))
        axes.set_ylabel(textwrap.fill(label, 40) + f"\n({'lower' if ARTIFACTS[artifact] else 'higher'} is fewer artifacts)")
        axes.set_title(textwrap.fill(f"Prompt alignment against {label}: run means, 95 % intervals", 75), fontsize=10)
        axes.grid(True, linewidth=0.4, alpha=0.5)
        axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        figure.tight_layout()
        name = f"tradeoff_{alignment}_vs_{artifact}.png"
        figure.savefig(out_dir / name, dpi=130)
        plt.close(figure)
        written.append(name)
    return written


def tradeoff_markdown(result: dict[str, Any], plots: list[str]) -> list[str]:
    alignment = result["alignment"]
    out = ["", f"## Trade-off: `{alignment}` against artifacts", ""]
    if not result["artifacts"]:
        return out + [f"No run has values of `{alignment}` and an artifact metric together, so there is no "
                      "trade-off to show (clip_score needs the CLIP weights and the clips' prompts)."]
    any_numbers = next(iter(result["artifacts"].values()))
    out += [f"Each non-CFG run against CFG's Pareto front (the CFG runs that no other CFG run beats on both), taken "
            "as piecewise linear between its runs in (alignment, artifact): the excess artifact is the run's "
            "artifact minus the front's at the run's alignment, signed so that positive is more artifacts. "
            f"Intervals and p-values from a paired bootstrap over the {any_numbers['prompts']} prompts "
            f"({any_numbers['resamples']} resamples; the front is found again in each), \"beyond\" after Holm's "
            f"correction over the runs compared (alpha {any_numbers['alpha']}); `samg_video/metrics/tradeoff.py`. "
            "The verdicts depend on the CFG scales rendered: render them densely where the runs land."]
    for artifact, numbers in result["artifacts"].items():
        front = ", ".join(f"{run} ({numbers['cfg_scales'][run]:g})" for run in numbers["front"]) or "none"
        out += ["", f"### {METRICS[artifact][0]} (`{artifact}`)", "", f"CFG's front: {front}.", "",
                "| run | alignment | artifact | front between | front's artifact there | excess artifact, 95 % CI | "
                "p beyond (Holm) | "
                "verdict |", "|---|---|---|---|---|---|---|---|"]
        for m in numbers["settings"]:
            if "excess" in m:
                scales = " to ".join(f"{scale:g}" for scale in m["reference_scales"])
                out.append(f"| {m['run']} | {m['alignment']:.4g} | {m['artifact']:.4g} | {m['reference']} "
                           f"({scales}) | {m['front_artifact']:.4g} | {m['excess']:+.3g} [{m['ci_low']:+.3g}, "
                           f"{m['ci_high']:+.3g}] "
                           f"| {m['p_beyond']:.3g} ({m['p_beyond_holm']:.3g}) | {m['verdict']} |")
            else:
                out.append(f"| {m['run']} | {m['alignment']:.4g} | {m['artifact']:.4g} | n/a | n/a | n/a | n/a | "
                           f"{m['verdict']} |")
        name = f"tradeoff_{alignment}_vs_{artifact}.png"
        if name in plots:
            out += ["", f"![{name}]({name})"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = ScriptParser(prog="compare_runs", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run output folders; the first is the reference")
    parser.add_argument("--out", type=Path, required=True, help="folder for report.md, report.json and plots")
    parser.add_argument("--metrics", nargs="+", choices=list(METRICS), default=list(METRICS))
    parser.add_argument("--per_clip_plots", action="store_true",
                        help=f"also plot each metric per clip, first run against each other run, and the warping "
                             f"error per frame pair of a few clips, into OUT/{PER_CLIP_FOLDER}/")
    parser.add_argument("--curves", type=whole_number(0), default=4, help="clips shown in the warping-error curves")
    parser.add_argument("--alignment", default="clip_score", choices=list(METRICS),
                        help="the alignment metric of the trade-off (default: clip_score)")
    parser.add_argument("--artifacts", nargs="+", choices=list(ARTIFACTS), default=list(ARTIFACTS),
                        help="the artifact metrics the alignment is plotted against")
    args = parser.parse_args(argv)
    if len(args.runs) < 2:
        parser.error("give at least two run folders")
    for run in args.runs:
        if not run.is_dir():
            parser.error(f"{run} is not a folder" if run.exists() else f"{run}: no such folder")
    if len({run.resolve() for run in args.runs}) != len(args.runs):
        parser.error(f"a run is given twice ({', '.join(map(str, args.runs))}); give each run once")
    labels = [run.name for run in args.runs]
    if len(set(labels)) != len(labels):
        parser.error(f"run folders need distinct names to label them; got {', '.join(labels)}")
    problem = output_folder_problem(args.out, "--out", args.runs)
    if problem:
        parser.error(problem)
    try:
        runs = [load_run(directory) for directory in args.runs]
    except RunError as error:
        print(f"compare_runs: error: {error}", file=sys.stderr)
        return 2
    if not any(k in r["records"] for k in runs[0]["records"] for r in runs[1:]):
        print("compare_runs: error: no clip matches across the runs (matched by prompt and seed, else by id); "
              "render the same prompts with the same seeds", file=sys.stderr)
        return 2
    # by default the metrics the runs were scored with (a metric no run has would be an empty section)
    metrics = [m for m in args.metrics if any(m in record for r in runs for record in r["records"].values())]
    if not metrics:
        print(f"compare_runs: error: the runs hold none of {', '.join(args.metrics)}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    result = compare(runs, metrics)
    plots = []
    if args.per_clip_plots:
        (args.out / PER_CLIP_FOLDER).mkdir(exist_ok=True)
        plots = [f"{PER_CLIP_FOLDER}/{name}" for name in plot(runs, metrics, args.out / PER_CLIP_FOLDER, args.curves)]
    result["tradeoff"] = tradeoff(runs, args.alignment, [a for a in args.artifacts if a != args.alignment])
    tradeoff_plots = plot_tradeoff(result["tradeoff"], args.out)
    (args.out / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "report.md").write_text(markdown(result, plots) + "\n".join(tradeoff_markdown(result["tradeoff"],
                                                                                          tradeoff_plots)) + "\n")
    plots += tradeoff_plots
    print(f"wrote {args.out / 'report.md'} and {len(plots)} plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
