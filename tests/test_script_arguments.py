"""Every script checks all of its arguments before any work: one line, exit status 2, nothing made (the scripts'
``main(argv)`` in this process; a script's own real process: test_sweep.py's bad setting)."""

import json

import pytest
from cli_runs import ROOT, TINY_CONFIG, load_script

from samg_video.world.scenes import DISTINCT_PROMPTS


def refusal(script, argv, capsys):
    """(exit status, stderr lines) of ``script``'s main refusing ``argv``."""
    try:
        code = load_script(script).main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err.strip().splitlines()


def metrics_run(folder, prompts=("a cat", "a dog")):
    folder.mkdir(parents=True)
    lines = [{"id": f"c{i}", "prompt": p, "seed": i, "flicker": 0.9} for i, p in enumerate(prompts)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


CASES = {
    # compare_runs
    "compare: --out is a file": ("compare_runs", lambda t: [t / "a", t / "b", "--out", t / "file"],
                                 "compare_runs: error: --out {t}/file is a file, not a folder"),
    "compare: --out inside a run": ("compare_runs", lambda t: [t / "a", t / "b", "--out", t / "a" / "report"],
                                    "compare_runs: error: --out {t}/a/report is inside the input {t}/a"),
    "compare: the same run twice": ("compare_runs", lambda t: [t / "a", t / "a", "--out", t / "r"],
                                    "compare_runs: error: a run is given twice"),
    "compare: a missing run": ("compare_runs", lambda t: [t / "a", t / "nope", "--out", t / "r"],
                               "compare_runs: error: {t}/nope: no such folder"),
    "compare: negative curves": ("compare_runs", lambda t: [t / "a", t / "b", "--out", t / "r", "--curves", "-1"],
                                 "compare_runs: error: argument --curves: -1 is not valid; it must be >= 0"),
    "compare: an unknown metric": ("compare_runs", lambda t: [t / "a", t / "b", "--out", t / "r", "--metrics", "flickr"],
                                   "compare_runs: error: argument --metrics: invalid choice: 'flickr'"),
    # sweep: refused before anything renders
    "sweep: an unknown metric": ("sweep", lambda t: ["-c", TINY_CONFIG, "--guidance", "cfg:3", "cfg:6", "--output_dir",
                                                     t / "sweep", "--metrics", "flickr"],
                                 "sweep: error: --metrics flickr: choose from flicker, "),
    "sweep: --output_dir is a file": ("sweep", lambda t: ["-c", TINY_CONFIG, "--guidance", "cfg:3", "cfg:6",
                                                          "--output_dir", t / "file"],
                                      "sweep: error: --output_dir {t}/file is a file, not a folder"),
    "sweep: a missing prompt file": ("sweep", lambda t: ["-c", TINY_CONFIG, "--guidance", "cfg:3", "cfg:6",
                                                         "--output_dir", t / "sweep", "--prompts", t / "nope.txt"],
                                     "sweep: error: --prompts {t}/nope.txt: no such file"),
    # toy_experiment
    "toy: more prompts than the world has": ("toy_experiment", lambda t: ["--prompts", "300000", "--output_dir", t / "x"],
                                             f"toy_experiment: error: argument --prompts: 300000 is not valid; it must "
                                             f"be from 1 to {DISTINCT_PROMPTS}"),
    "toy: no prompts": ("toy_experiment", lambda t: ["--prompts", "0", "--output_dir", t / "x"],
                        "toy_experiment: error: argument --prompts: 0 is not valid"),
    "toy: --output_dir is a file": ("toy_experiment", lambda t: ["--output_dir", t / "file"],
                                    "toy_experiment: error: --output_dir {t}/file is a file, not a folder"),
    # cache_experiment
    "cache: --output_dir is a file": ("cache_experiment", lambda t: ["--output_dir", t / "file"],
                                      "cache_experiment: error: --output_dir {t}/file is a file, not a folder"),
    "cache: no seeds": ("cache_experiment", lambda t: ["--videos_per_prompt", "0", "--output_dir", t / "x"],
                        "cache_experiment: error: argument --videos_per_prompt: 0 is not valid"),
    # contact_sheet
    "sheet: --out is a folder": ("contact_sheet", lambda t: [t / "a", t / "b", "--out", t / "a"],
                                 "contact_sheet: error: --out {t}/a is a folder; give a .png file"),
    "sheet: --out is not a png": ("contact_sheet", lambda t: [t / "a", t / "b", "--out", t / "sheet.jpg"],
                                  "contact_sheet: error: --out {t}/sheet.jpg must be a .png file"),
    "sheet: the same run twice": ("contact_sheet", lambda t: [t / "a", t / "a", "--out", t / "sheet.png"],
                                  "contact_sheet: error: a run is given twice"),
    "sheet: no frames": ("contact_sheet", lambda t: [t / "a", t / "b", "--out", t / "sheet.png", "--frames", "0"],
                         "contact_sheet: error: argument --frames: 0 is not valid; it must be >= 1"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_argument_is_refused_in_one_line_before_any_work(tmp_path, capsys, case):
    script, argv, message = CASES[case]
    metrics_run(tmp_path / "a")
    metrics_run(tmp_path / "b")
    (tmp_path / "file").write_text("a file")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, lines = refusal(script, argv(tmp_path), capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(message.format(t=tmp_path)), lines[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing made or changed


def test_the_toy_experiment_prompts_are_distinct_and_stop_at_the_worlds_count():
    import itertools

    from samg_video.world.scenes import BACKGROUNDS, MOTIONS, PALETTE, SHAPES

    experiment = load_script("toy_experiment")
    prompts = experiment.experiment_prompts(500)
    assert len(set(prompts)) == 500 and prompts == experiment.experiment_prompts(500)  # a fixed set
    # the count, by enumeration: two objects of different colours and shapes, a background of a third colour
    stated = sum(1 for c1, c2, b in itertools.product(PALETTE, repeat=3) if len({c1, c2, b}) == 3
                 for s1, s2 in itertools.product(SHAPES, repeat=2) if s1 != s2)
    assert DISTINCT_PROMPTS == stated * len(MOTIONS) ** 2 * len(BACKGROUNDS) == 252000
    with pytest.raises(ValueError, match="the world has 252000 distinct prompts, not 252001"):
        experiment.experiment_prompts(DISTINCT_PROMPTS + 1)
    assert (ROOT / "scripts" / "toy_experiment.py").is_file()


def test_the_regime_report_pairs_cfg_scales_by_prompt_and_seed(tmp_path):
    experiment = load_script("toy_experiment")
    adherence = {"3": [0.5, 0.6, 0.7, 0.8], "6": [0.6, 0.8, 0.7, 0.9]}
    for scale in experiment.CFG_SCALES:
        folder = tmp_path / f"cfg_{scale}"
        folder.mkdir()
        values = adherence.get(scale, [0.5] * 4)
        lines = [{"id": f"c{i}", "prompt": f"p{i}", "seed": i, "world_adherence": v, "palette_overshoot": float(scale)}
                 for i, v in enumerate(values)]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines[::-1]))
    report = experiment.regime_report(tmp_path)
    # by hand: differences 0.1, 0.2, 0, 0.1; sd 0.0816; t(0.975, 3) = 3.182; half width 0.1299
    assert "Adherence CFG 6 - CFG 3: +0.1000 [-0.0299, +0.2299]: the interval is not above 0" in report
    row = next(line for line in report.splitlines() if line.startswith("| CFG 10 - CFG 3 |"))
    assert "+7 [+7, +7] (n=4)" in row  # overshoot 10 - 3 on every clip; matched though written in another order
