"""scripts/tune.py: an Optuna search on tuning prompts, confirmed against CFG's front on held-out prompts, that
resumes after a kill. Tiny budgets on the toy model; the renders in this process except where a kill is tested."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml
from cli_runs import ROOT, cli_env, load_script, run_here

TINY = {"run_config": str(ROOT / "configs" / "toy_samg.yaml"), "prompts": {"world": 8},
        "split": {"tuning": 3, "held_out": 3, "seed": 0}, "alignment": "world_adherence",
        "artifacts": ["palette_overshoot", "warping_error"], "trials": 3, "confirm": 2, "cfg_grid": [1, 3],
        "render_args": ["--model.num_inference_steps", "2"],
        "methods": {"samg": {"w_min": [1.0, 4.0], "w_max": [2.0, 8.0], "mapping": ["linear", "threshold"]},
                    "cfg": {"scale": [1.0, 6.0]}}}


def write_config(tmp_path, **changes):
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def in_process(tune, workdir, monkeypatch):
    """Every render through the CLI's entry function in this process (the renders' own process: the sweep's)."""
    def render_here(config, folder, setting, prompts_file):
        args = ["predict", "-c", config["run_config"], "--output_dir", folder, "--model.guidance", json.dumps(setting),
                "--data.prompts", prompts_file, "--data.videos_per_prompt", config["videos_per_prompt"],
                *config["render_args"]]
        return run_here(args, cwd=workdir).returncode

    monkeypatch.setattr(tune, "render", render_here)


def complete_trials(database):
    """Trials the study has completed; 0 while Optuna has not yet made its tables (a search just started)."""
    with sqlite3.connect(database) as connection:
        try:
            return connection.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


@pytest.mark.slow
def test_a_search_confirms_its_front_on_held_out_prompts_and_resumes(workdir, tmp_path, monkeypatch, capsys):
    tune = load_script("tune")
    in_process(tune, workdir, monkeypatch)
    out = tmp_path / "out"
    assert tune.main(["-c", str(write_config(tmp_path)), "--output_dir", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("tune: trial ") == 3 and " -> fail" not in err and "3/3 done" in err and "min left" in err
    assert err.strip().splitlines()[-1].startswith("tune: done: 3 trials,")
    assert complete_trials(out / "study.db") == 3
    # the search saw the tuning prompts only; the held-out renders the held-out prompts only
    tuning = [json.loads(line)["prompt"] for line in (out / "prompts_tuning.jsonl").read_text().splitlines()]
    held_out = [json.loads(line)["prompt"] for line in (out / "prompts_held_out.jsonl").read_text().splitlines()]
    assert len(tuning) == len(held_out) == 3 and not set(tuning) & set(held_out)
    for folder in (out / "trials").iterdir():
        assert {json.loads(line)["prompt"] for line in (folder / "metrics.jsonl").read_text().splitlines()} <= set(tuning)
    for folder in (out / "held_out").iterdir():
        assert {json.loads(line)["prompt"] for line in (folder / "metrics.jsonl").read_text().splitlines()} == set(held_out)
    report = json.loads((out / "report.json").read_text())
    assert 1 <= len(report["confirmed"]) <= 2 and {"cfg_1", "cfg_3"} <= {p.name for p in (out / "held_out").iterdir()}
    text = (out / "report.md").read_text()
    assert "## Held-out verdicts" in text and "Beyond CFG's front on held-out prompts, after correction:" in text
    assert (out / "fronts_world_adherence_vs_palette_overshoot.png").read_bytes()[:4] == b"\x89PNG"
    # the snippets paste into a config as they are
    snippets = [block.split("```")[0] for block in text.split("```yaml\n")[1:]]
    for snippet in snippets:
        guidance = yaml.safe_load(snippet)["model"]["guidance"]
        assert guidance["class_path"] in ("samg_video.guidance.SAMG", "samg_video.guidance.CFG")
    # a larger budget resumes the same study: one more trial, the renders already made kept
    made = {p: p.stat().st_mtime_ns for p in (out / "trials").glob("*/*.mp4")}
    assert tune.main(["-c", str(write_config(tmp_path)), "--output_dir", str(out), "--trials", "4"]) == 0
    assert complete_trials(out / "study.db") == 4 and capsys.readouterr().err.count("tune: trial ") == 1
    assert made and all(path.stat().st_mtime_ns == when for path, when in made.items())


@pytest.mark.slow
def test_a_killed_search_resumes_where_it_stopped(workdir, tmp_path, monkeypatch):
    # a real process, killed once its first trial is in the study; the same command then finishes the budget
    config = write_config(tmp_path, trials=2)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "tune.py"), "-c", str(config), "--output_dir",
                                str(out)], cwd=workdir, env=cli_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "study.db").is_file() and complete_trials(out / "study.db") >= 1:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert complete_trials(out / "study.db") == 1
    tune = load_script("tune")
    in_process(tune, workdir, monkeypatch)
    assert tune.main(["-c", str(config), "--output_dir", str(out)]) == 0
    assert complete_trials(out / "study.db") == 2 and (out / "report.md").is_file()


@pytest.mark.parametrize("change, message", [
    ({"methods": {"magic": {"scale": [1, 2]}}}, "methods.magic: unknown method; choose from cfg, samg"),
    ({"methods": {"samg": {"w_mid": [1, 2]}}}, "methods.samg.w_mid: SAMG has no such option"),
    ({"methods": {"samg": {"w_min": [0.0, 2.0], "w_max": [2.0, 4.0]}}}, "methods.samg: w_min=0.0 is not valid"),
    ({"artifacts": ["flickr"]}, "artifacts=['flickr']; a list of saturation"),
    ({"split": {"tuning": 2000, "held_out": 1000}}, "split: 2000 tuning + 1000 held-out prompts, but the prompts hold 8"),
    ({"trials": 0}, "trials=0 must be a whole number >= 1"),
    ({"cfg_grid": [3]}, "cfg_grid=[3]; give two or more CFG scales > 0"),
])
def test_a_bad_tune_config_is_refused_in_one_line_before_any_work(tmp_path, capsys, change, message):
    config = write_config(tmp_path, **change)
    with pytest.raises(SystemExit) as exit_info:
        load_script("tune").main(["-c", str(config), "--output_dir", str(tmp_path / "out")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and lines[0].startswith("tune: error: ")
    assert message in lines[0], lines[0]
    assert not (tmp_path / "out").exists()
