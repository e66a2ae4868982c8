"""The trade-off report: alignment against artifacts, the CFG curve, and the matched-alignment comparison,
on constructed runs whose answer is known."""

import json

import pytest
from cli_runs import load_script

from samg_video.metrics.tradeoff import RunPoint, matched_alignment

SPREAD = (-1.0, 1.0, -0.5, 0.5)  # per-clip offsets with mean 0: a run's mean is exactly its centre


def write_run(folder, guidance, alignment, saturation):
    folder.mkdir(parents=True)
    lines = [{"id": f"clip-{i}", "prompt": f"prompt {i}", "seed": i, "clip_score": alignment + offset,
              "saturation": saturation + offset / 100, "flicker": 0.9} for i, offset in enumerate(SPREAD)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (folder / "summary.json").write_text(json.dumps({"guidance": guidance}))


def cfg(scale):
    return {"class_path": "samg_video.guidance.CFG", "init_args": {"scale": scale}}


def test_matched_alignment_interpolates_between_the_two_nearest_cfg_runs():
    curve = [RunPoint("cfg_3", 20, 0, 0.10, 0.0, 3.0), RunPoint("cfg_6", 25, 0, 0.20, 0.0, 6.0),
             RunPoint("cfg_9", 30, 0, 0.40, 0.0, 9.0)]
    samg = RunPoint("samg", 27.5, 0, 0.25, 0.01)
    result = matched_alignment(samg, curve, lower_is_better=True)
    assert result["cfg_scale"] == pytest.approx(7.5) and result["cfg_artifact"] == pytest.approx(0.30)
    assert result["difference"] == pytest.approx(-0.05) and result["between"] == ["cfg_6", "cfg_9"]
    assert result["ci_high"] == pytest.approx(-0.05 + 1.959963984540054 * 0.01)
    assert result["verdict"].startswith("beyond the CFG curve")
    assert matched_alignment(RunPoint("far", 35, 0, 0.1, 0), curve, True)["verdict"].startswith("alignment 35")
    assert matched_alignment(RunPoint("worse", 22.5, 0, 0.5, 0.01), curve, True)["verdict"].startswith("behind")


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
    matched = numbers["tradeoff"]["artifacts"]["saturation"]["matched"]
    assert [m["run"] for m in matched] == ["samg", "samg_quantile", "samg_threshold"]
    assert matched[0]["cfg_scale"] == pytest.approx(7.5) and matched[0]["difference"] == pytest.approx(-0.05)
    assert matched[0]["verdict"].startswith("beyond the CFG curve")
    text = (report / "report.md").read_text()
    assert "| samg_quantile | SAMG(w_min=2, w_max=5, normalization=quantile) | 4 |" in text
    assert "## Trade-off: `clip_score` against artifacts" in text and "| samg | 27.5 | 7.5 |" in text
    plots = ["tradeoff_clip_score_vs_saturation.png", "tradeoff_clip_score_vs_flicker.png"]
    for name in plots:
        assert (report / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({name})" in text
    # the report's own folder: the report and the trade-off plots; per-clip plots only on request
    assert sorted(p.name for p in report.iterdir()) == sorted(["report.md", "report.json", *plots])
