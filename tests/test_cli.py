"""The user's entry point: ``lightning predict -c configs/tiny_samg.yaml`` in a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from samg_video.video_io import read_video

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "configs" / "tiny_samg.yaml"
TINY_PROMPTS = ROOT / "configs" / "prompts" / "tiny.txt"
BIN = Path(sys.executable).parent
REQUIRED_KEYS = {"id", "prompt", "negative_prompt", "seed", "num_frames", "height", "width", "fps", "model",
                 "guidance", "guidance_statistics", "video"}


def run(args, cwd, script="lightning"):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("SAMG_VIDEO_DEBUG", None)
    command = [str(BIN / script)] if script else [sys.executable, "-m", "samg_video"]
    return subprocess.run(command + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def workdir(tmp_path):
    path = tmp_path / "cwd"
    path.mkdir()
    return path


def test_tiny_config_renders_decodable_clips_with_complete_metadata(workdir, tmp_path):
    decord = pytest.importorskip("decord")
    out = tmp_path / "out"
    result = run(["predict", "-c", str(TINY_CONFIG), "--output_dir", str(out), "--data.prompts", str(TINY_PROMPTS)],
                 cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    videos = sorted(out.glob("*.mp4"))
    assert len(videos) == 3  # three non-blank lines in tiny.txt
    for video in videos:
        frames = read_video(video)
        assert frames.shape == (9, 32, 64, 3)
        assert len(decord.VideoReader(str(video))) == 9
        metadata = json.loads(video.with_suffix(".json").read_text())
        assert REQUIRED_KEYS <= metadata.keys()
        assert (metadata["num_frames"], metadata["height"], metadata["width"], metadata["fps"]) == (9, 32, 64, 8)
        assert metadata["guidance"] == {
            "class_path": "samg_video.guidance.SAMG",
            "init_args": {**metadata["guidance"]["init_args"], "w_min": 4.0, "w_max": 9.6},
        }
        assert metadata["model"]["family"] == "cogvideox" and metadata["model"]["source"] == "tiny"
        assert 4.0 <= metadata["guidance_statistics"]["mean_scale"] <= 9.6
        assert metadata["guidance_statistics"]["active_steps"] == 4
        assert metadata["video"]["bytes"] == video.stat().st_size
        assert metadata["id"] == video.stem and metadata["prompt"] in TINY_PROMPTS.read_text()
        assert 0 <= metadata["metrics"]["flicker"] <= 1 and metadata["metrics"]["warping_error"] > 0
    assert (out / "run_config.yaml").is_file()
    # the metrics callback is on in tiny_samg.yaml: one line per clip and the run summary
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(video.stem for video in videos)
    for line in lines:
        assert {"id", "flicker", "warping_error", "flow_backend", "temporal_lpips"} <= line.keys()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == 3 and set(summary["metrics"]) >= {"flicker", "warping_error", "temporal_lpips"}
    assert (out / "summary.csv").read_text().startswith("metric,mean,std,count")
    assert not list(out.glob(".*.tmp.*"))  # no temporary files left behind (the hidden lock files stay)
    assert list(workdir.iterdir()) == []  # nothing written into the working directory


def test_same_config_and_seeds_give_the_same_clips(workdir, tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    writer = next(c for c in config["trainer"]["callbacks"] if c["class_path"].endswith("ClipWriter"))
    writer["init_args"]["lossless"] = True  # compare pixels, not encoder decisions
    lossless_config = tmp_path / "lossless.yaml"
    lossless_config.write_text(yaml.safe_dump(config))
    first, second = tmp_path / "a", tmp_path / "b"
    args = ["predict", "-c", str(lossless_config), "--data.prompts", "[a red cat, the sea]"]
    assert run(args + ["--output_dir", str(first)], cwd=workdir).returncode == 0
    assert run(args + ["--output_dir", str(second), "--data.batch_size", "1"], cwd=workdir, script=None).returncode == 0
    names = sorted(p.name for p in first.glob("*.mp4"))
    assert names == sorted(p.name for p in second.glob("*.mp4")) and len(names) == 2
    for name in names:
        a, b = read_video(first / name).astype(int), read_video(second / name).astype(int)
        assert abs(a - b).max() <= 1  # batch size 2 vs 1: summation order only


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model.guidance.init_args.w_min", "12"], "w_min=12.0 is greater than w_max=9.6"),
        (["--model.guidance.init_args.w_max", "-1"], "w_max=-1.0 is not valid; it must be a number > 0"),
        (["--model.guidance.init_args.energy", "l1"], "mean_square"),
        (["--model.num_frames", "10"], "model.num_frames=10 cannot be produced by CogVideoX: 4k+1 frames"),
        (["--model.height", "40"], "model.height=40 cannot be produced by CogVideoX: it must be a positive multiple of 16"),
        (["--model.num_inference_steps", "0"], "model.num_inference_steps=0 is not valid"),
        (["--model.family", "sora"], "model.family='sora' is not known; choose one of cogvideox, modelscope"),
        (["--data.prompts", "missing.txt"], "data.prompts: file not found: missing.txt"),
        (["--model.source", "THUDM/CogVideoX-2b"], "cannot load the cogvideox model 'THUDM/CogVideoX-2b'"),
    ],
)
def test_bad_input_fails_cleanly_before_writing(workdir, tmp_path, args, message):
    out = tmp_path / "out"
    env_args = ["predict", "-c", str(TINY_CONFIG), "--output_dir", str(out)]
    if "--data.prompts" not in args:
        env_args += ["--data.prompts", str(TINY_PROMPTS)]
    if args[0] == "--model.source":
        os.environ["HF_HUB_OFFLINE"] = "1"  # the same error as an unreachable hub, without waiting on DNS
    try:
        result = run(env_args + args, cwd=workdir)
    finally:
        os.environ.pop("HF_HUB_OFFLINE", None)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not out.exists() and list(workdir.iterdir()) == []


def test_samg_video_script_and_module_start_the_same_cli(workdir):
    for script in ("samg-video", None):
        result = run(["predict", "--help"], cwd=workdir, script=script)
        assert result.returncode == 0 and "--output_dir" in result.stdout


def test_run_config_never_overwrites_the_input_config(workdir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    config = out / "run_config.yaml"
    config.write_text(TINY_CONFIG.read_text())
    before = config.read_text()
    result = run(["predict", "-c", str(config), "--output_dir", str(out), "--data.prompts", "[a cat]"], cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert config.read_text() == before and len(list(out.glob("*.mp4"))) == 1


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_parses(config, capsys, monkeypatch):
    from samg_video.cli import main

    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "-c", str(config), "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    callbacks = [c["class_path"] for c in printed["trainer"]["callbacks"]]
    assert printed["output_dir"].startswith("outputs/")
    if config.name == "evaluate_clips.yaml":
        assert printed["model"]["class_path"] == "samg_video.evaluation.ClipEvaluator"
        assert printed["data"]["class_path"] == "datamodules.videos.VideoFolderDataModule"
        assert "samg_video.clip_metrics.ClipMetrics" in callbacks
        return
    assert printed["model"]["class_path"] == "samg_video.module.VideoGenerator"
    assert printed["data"]["class_path"] == "datamodules.prompts.PromptDataModule"
    # every render config scores its clips, before the writer so that each clip's JSON gets them
    assert callbacks.index("samg_video.clip_metrics.ClipMetrics") < callbacks.index("samg_video.writer.ClipWriter")
