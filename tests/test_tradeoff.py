"""The trade-off report: alignment against artifacts, CFG's Pareto front, and settings placed against it with a
paired bootstrap and Holm's correction, on constructed runs whose answer is known."""

import json

import numpy as np
import pytest
from cli_runs import load_script

from samg_video.metrics.tradeoff import excess_over_front, front_comparison, holm, pareto_front

SPREAD = (-1.0, 1.0, -0.5, 0.5)  # per-clip offsets with mean 0: a run's mean is exactly its centre


def write_run(folder, guidance, alignment, saturation):
    folder.mkdir(parents=True)
    lines = [{"id": f"clip-{i}", "prompt": f"prompt {i}", "seed": i, "clip_score": alignment + offset,
              "saturation": saturation + offset / 100, "flicker": 0.9} for i, offset in enumerate(SPREAD)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (folder / "summary.json").write_text(json.dumps({"guidance": guidance}))


def cfg(scale):
    return {"class_path": "samg_video.guidance.CFG", "init_args": {"scale": scale}}


# the toy world's CFG curve: alignment peaks at scale 3 and falls after, artifacts keep growing
CURVE = {1.0: (0.74, 0.7), 2.0: (0.93, 0.9), 3.0: (0.934, 1.0), 5.0: (0.912, 1.5), 15.0: (0.81, 2.3)}


def test_the_front_of_a_curve_that_peaks_keeps_only_the_scales_no_other_beats():
    alignment, artifact = (np.array([CURVE[s][i] for s in CURVE]) for i in (0, 1))
    assert [list(CURVE)[i] for i in pareto_front(alignment, artifact)] == [1.0, 2.0, 3.0]
    # along the front, not over the scale: a [2, 5]-like setting at 0.92 meets the front between CFG 1 and 2,
    # whose artifact there is 0.7 + (0.18 / 0.19) 0.2
    attained = 0.7 + 0.18 / 0.19 * 0.2
    assert excess_over_front((0.92, 1.2), alignment, artifact) == (pytest.approx(1.2 - attained), (0, 1))  # behind
    assert excess_over_front((0.92, 0.8), alignment, artifact) == (pytest.approx(0.8 - attained), (0, 1))  # beyond
    assert excess_over_front((0.932, 0.9), alignment, artifact) == (pytest.approx(-0.05), (1, 2))  # CFG 2 to 3
    assert excess_over_front((0.70, 0.6), alignment, artifact) == (pytest.approx(-0.1), (0, 0))  # below the front
    excess, bracket = excess_over_front((0.95, 0.5), alignment, artifact)  # above every CFG run
    assert np.isnan(excess) and bracket is None


def test_holm_adjusts_step_down_and_keeps_the_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5] and holm([0.02, 0.02]) == pytest.approx([0.04, 0.04])


def test_settings_clearly_beyond_on_and_behind_the_front_are_told_apart():
    rng = np.random.default_rng(0)
    prompts = [f"p{i // 2}" for i in range(80)]  # 40 prompts, two seeds each
    noise = rng.normal(0, 0.02, 80)
    alignment = {f"cfg_{s:g}": np.full(80, a) + noise for s, (a, _) in CURVE.items()}
    artifact = {f"cfg_{s:g}": np.full(80, y) + rng.normal(0, 0.05, 80) for s, (_, y) in CURVE.items()}
    for name, (a, y) in {"beyond": (0.92, 0.6), "behind": (0.92, 1.3), "on": (0.925, 0.895)}.items():
        alignment[name] = np.full(80, a) + noise + rng.normal(0, 0.005, 80)
        artifact[name] = np.full(80, y) + rng.normal(0, 0.05, 80)
    result = front_comparison(alignment, artifact, prompts, {f"cfg_{s:g}": s for s in CURVE}, lower_is_better=True,
                              resamples=500)
    assert result["front"] == ["cfg_1", "cfg_2", "cfg_3"] and result["prompts"] == 40
    verdicts = {s["run"]: s for s in result["settings"]}
    assert verdicts["beyond"]["verdict"].startswith("beyond") and verdicts["beyond"]["reference"] == "cfg_1 to cfg_2"
    assert verdicts["beyond"]["ci_high"] < 0 and verdicts["beyond"]["p_beyond_holm"] <= 0.05
    assert verdicts["behind"]["verdict"].startswith("behind") and verdicts["behind"]["ci_low"] > 0
    assert verdicts["on"]["verdict"].startswith("on CFG's front")
    # a higher-is-better artifact (texture fidelity): the same answer with the values mirrored
    mirrored = front_comparison(alignment, {k: -v for k, v in artifact.items()}, prompts,
                                {f"cfg_{s:g}": s for s in CURVE}, lower_is_better=False, resamples=500)
    assert [s["verdict"][:6] for s in mirrored["settings"]] == [s["verdict"][:6] for s in result["settings"]]


def samg(**options):
    return {"class_path": "samg_video.guidance.SAMG", "init_args": {**dict(SAMG_DEFAULTS), **options}}


SAMG_DEFAULTS = {"w_min": 2.0, "w_max": 5.0, "energy": "mean_square", "normalization": "minmax", "mapping": "linear",
                 "quantile_bounds": [0.01, 0.99], "window": [0.0, 1.0], "w_base": None, "step_ema": 0.0}


def test_compare_runs_writes_the_tradeoff_plot_and_table_and_labels_every_option(tmp_path, capsys):
    runs = {"cfg_3": (cfg(3.0), 20.0, 0.10), "cfg_6": (cfg(6.0), 25.0, 0.20), "cfg_9": (cfg(9.0), 30.0, 0.40),
            "samg": (samg(w_min=4, w_max=9.6), 27.5, 0.25),
            # settings that differ only in options other than the scales: the report must tell them apart
            "samg_quantile": (samg(normalization="quantile"), 24.0, 0.2),
            "samg_threshold": (samg(mapping="threshold", window=[0.0, 0.5], step_ema=0.5), 24.0, 0.2)}
    for name, (guidance, alignment, saturation) in runs.items():
        write_run(tmp_path / name, guidance, alignment, saturation)
    report = tmp_path / "report"
    assert load_script("compare_runs").main([*(str(tmp_path / n) for n in runs), "--out", str(report)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {report / 'report.md'} and 2 plots"
    numbers = json.loads((report / "report.json").read_text())
    assert [run["guidance"] for run in numbers["runs"]] == [
        "CFG(scale=3)", "CFG(scale=6)", "CFG(scale=9)", "SAMG(w_min=4, w_max=9.6)",
        "SAMG(w_min=2, w_max=5, normalization=quantile)",
        "SAMG(w_min=2, w_max=5, mapping=threshold, window=[0, 0.5], step_ema=0.5)"]
    saturation = numbers["tradeoff"]["artifacts"]["saturation"]
    assert saturation["front"] == ["cfg_3", "cfg_6", "cfg_9"]
    settings = {m["run"]: m for m in saturation["settings"]}
    assert list(settings) == ["samg", "samg_quantile", "samg_threshold"]
    # samg aligns at 27.5, half way from CFG 6 (25, 0.20) to CFG 9 (30, 0.40): the front has 0.30 there
    assert settings["samg"]["reference"] == "cfg_6 to cfg_9" and settings["samg"]["excess"] == pytest.approx(-0.05)
    assert settings["samg_quantile"]["reference"] == "cfg_3 to cfg_6"  # at 24: 0.10 + 0.8 x 0.10 = 0.18
    assert settings["samg_quantile"]["excess"] == pytest.approx(0.02)
    text = (report / "report.md").read_text()
    assert "| samg_quantile | SAMG(w_min=2, w_max=5, normalization=quantile) | 4 |" in text
    assert "## Trade-off: `clip_score` against artifacts" in text and "CFG's front: cfg_3 (3), cfg_6 (6), cfg_9 (9)." in text
    assert "| samg | 27.5 | 0.25 | cfg_6 to cfg_9 (6 to 9) | 0.3 | -0.05 [" in text
    plots = ["tradeoff_clip_score_vs_saturation.png", "tradeoff_clip_score_vs_flicker.png"]
    for name in plots:
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({name})" in text
    # the report's own folder: the report and the trade-off plots; per-clip plots only on request
    assert sorted(p.name for p in report.iterdir()) == sorted(["report.md", "report.json", *plots])
