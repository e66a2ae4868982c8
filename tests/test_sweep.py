"""scripts/sweep.py: guidance settings -> sibling folders through the CLI -> one comparison report."""

import json
import re
import subprocess
import sys

import pytest
from cli_runs import ROOT, TINY_CONFIG, cli_env, lines_of, load_script, run_here

SWEEP = ROOT / "scripts" / "sweep.py"


def load_sweep():
    return load_script("sweep")


@pytest.mark.parametrize("text, name, arguments", [
    ("cfg:3", "cfg_3", {"scale": 3}),
    ("SAMG:4,9.6", "samg_4_9.6", {"w_min": 4, "w_max": 9.6}),
    ("samg:4,9.6,temporal_sigma=1", "samg_4_9.6_temporal_sigma1", {"w_min": 4, "w_max": 9.6, "temporal_sigma": 1}),
    ("apg:6,eta=0", "apg_6_eta0", {"scale": 6, "eta": 0}),
    ("samg:4,9.6,window=[0,0.5],w_base=6", "samg_4_9.6_window-0-0.5-_w_base6",
     {"w_min": 4, "w_max": 9.6, "window": [0, 0.5], "w_base": 6}),
])
def test_settings_parse_to_config_values_and_folder_names(text, name, arguments):
    folder, guidance = load_sweep().parse_setting(text)
    assert folder == name and guidance["init_args"] == arguments
    assert guidance["class_path"].startswith("samg_video.guidance.")


@pytest.mark.parametrize("text, message", [
    ("magic:3", "unknown method 'magic'; choose one of apg, cfg, cfgrescale, cfgzerostar, dynamiccfg, mambog, samg"),
    ("samg:12,4", "w_min=12 is greater than w_max=4"),
    ("cfg:scale=3,7", "the value '7' has no name"),
    ("samg:4,9.6,w_mid=3", "SAMG has no option 'w_mid'; its options: w_min, w_max"),
    ("samg:4,9.6,window=[0,", "window='[0' is not a value"),
])
def test_bad_settings_are_refused_before_anything_renders(text, message):
    sweep = load_sweep()
    with pytest.raises(sweep.SweepError, match=re.escape(message)):
        sweep.parse_setting(text)


@pytest.mark.slow
def test_sweep_of_the_toy_model_renders_each_setting_and_writes_the_report_and_a_contact_sheet(workdir, tmp_path,
                                                                                              capsys, monkeypatch):
    # each setting renders in a real process, through python -m samg_video, as for a user; the sweep's own
    # process boundary (its exit status): test_a_bad_setting_stops_the_sweep_with_nothing_written
    out = tmp_path / "sweep"
    prompts = ["a red circle moving right and a blue square staying still over green stripes",
               "a cyan square staying still and a white circle moving left on a plain red background"]
    monkeypatch.chdir(workdir)
    for name, value in cli_env().items():
        monkeypatch.setenv(name, value)
    code = load_sweep().main(["-c", str(ROOT / "configs" / "toy_samg.yaml"), "--guidance", "cfg:6", "samg:4,9.6",
                              "--output_dir", str(out), "--prompts", json.dumps(prompts), "--alignment",
                              "world_adherence", "--artifacts", "palette_overshoot", "texture_fidelity", "--",
                              "--model.num_inference_steps", "4"])
    assert code == 0
    for folder, class_path in (("cfg_6", "samg_video.guidance.CFG"), ("samg_4_9.6", "samg_video.guidance.SAMG")):
        records = lines_of(out / folder / "metrics.jsonl")
        assert sorted(r["prompt"] for r in records) == sorted(prompts)
        assert all(r["guidance"]["class_path"] == class_path for r in records)
        assert all(0 <= r["world_adherence"] <= 1 and r["palette_overshoot"] >= 0 for r in records)
    report = json.loads((out / "report" / "report.json").read_text())
    assert [run["label"] for run in report["runs"]] == ["cfg_6", "samg_4_9.6"]
    assert report["tradeoff"]["alignment"] == "world_adherence"
    assert set(report["tradeoff"]["artifacts"]) == {"palette_overshoot", "texture_fidelity"}
    assert (out / "report" / "tradeoff_world_adherence_vs_palette_overshoot.png").is_file()
    assert "samg_4_9.6" in (out / "report" / "report.md").read_text()
    assert "sweep: report in" in capsys.readouterr().err

    sheet = tmp_path / "sheet.png"
    assert load_script("contact_sheet").main([str(out / "cfg_6"), str(out / "samg_4_9.6"), "--out", str(sheet),
                                              "--truth"]) == 0
    assert capsys.readouterr().out.strip() == f"contact_sheet: 2 clips x 2 runs -> {sheet}"
    assert sheet.stat().st_size > 0


def test_a_bad_setting_stops_the_sweep_with_nothing_written(workdir, tmp_path):
    out = tmp_path / "sweep"
    command = [sys.executable, str(SWEEP), "-c", str(TINY_CONFIG), "--guidance", "cfg:6", "samg:0,9.6",
               "--output_dir", str(out)]
    result = subprocess.run(command, cwd=workdir, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "w_min=0 is not valid" in result.stderr and not out.exists()


@pytest.mark.parametrize("config", ["tiny_wan_samg.yaml", "tiny_hunyuan15_samg.yaml"])
def test_sweep_of_a_newer_family_renders_each_setting_through_its_own_guidance_route(workdir, tmp_path, config,
                                                                                     monkeypatch):
    # Wan: the hook on two separate transformer calls; HunyuanVideo 1.5: the pipeline's guider component. The
    # sweep and its renders in this process (the real processes: the toy sweep above)
    sweep = load_sweep()
    renders = []

    def render_here(config_path, folder, guidance, prompts, extra):
        renders.append(folder.name)
        args = ["predict", "-c", config_path, "--output_dir", folder, "--model.guidance", json.dumps(guidance),
                "--data.prompts", prompts, *extra]
        return run_here(args, cwd=workdir).returncode

    monkeypatch.setattr(sweep, "render", render_here)
    out = tmp_path / "sweep"
    code = sweep.main(["-c", str(ROOT / "configs" / config), "--guidance", "cfg:5", "samg:3,8,temporal_sigma=1",
                       "--output_dir", str(out), "--prompts", json.dumps(["a cat"]), "--",
                       "--model.num_inference_steps", "2"])
    assert code == 0 and renders == ["cfg_5", "samg_3_8_temporal_sigma1"]
    for folder, class_path in (("cfg_5", "samg_video.guidance.CFG"), ("samg_3_8_temporal_sigma1",
                                                                      "samg_video.guidance.SAMG")):
        (record,) = lines_of(out / folder / "metrics.jsonl")
        assert record["flicker"] is not None and record["guidance"]["class_path"] == class_path
    (record,) = lines_of(out / "samg_3_8_temporal_sigma1" / "metrics.jsonl")
    metadata = json.loads((out / "samg_3_8_temporal_sigma1" / f"{record['id']}.json").read_text())
    guided = metadata["guidance_statistics"]
    assert guided["active_steps"] == 2 and 3.0 <= guided["mean_scale"] <= 8.0  # SAMG was called at every step
    assert metadata["model"]["family"] == config.split("_")[1]
    report = json.loads((out / "report" / "report.json").read_text())
    assert [run["label"] for run in report["runs"]] == ["cfg_5", "samg_3_8_temporal_sigma1"]
    assert [run["guidance"] for run in report["runs"]] == ["CFG(scale=5)", "SAMG(w_min=3, w_max=8, temporal_sigma=1)"]
