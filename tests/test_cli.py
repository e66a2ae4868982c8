"""The user's entry point: ``lightning predict -c configs/tiny_samg.yaml``, in this process and in real ones."""

import importlib.util
import json
import logging
import sys

import pytest
import torch
import yaml
from cli_runs import BIN, ROOT, TINY_CONFIG, TINY_PROMPTS, clip_videos, run, run_here

from samg_video.files.media import read_video

REQUIRED_KEYS = {"id", "prompt", "negative_prompt", "seed", "num_frames", "height", "width", "fps", "model",
                 "guidance", "guidance_statistics", "video"}


def test_tiny_config_renders_decodable_clips_with_complete_metadata(workdir, tmp_path):
    decord = pytest.importorskip("decord")
    out = tmp_path / "out"
    result = run_here(["predict", "-c", str(TINY_CONFIG), "--output_dir", str(out), "--data.prompts",
                       str(TINY_PROMPTS)], cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    videos = clip_videos(out)
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
        # the scale-map writer is on in tiny_samg.yaml: heatmap and side by side, enlarged 4x, legend below
        assert metadata["scale_map"]["range"] == [4.0, 9.6]
        heatmap = read_video(out / metadata["scale_map"]["scale_map"])
        side_by_side = read_video(out / metadata["scale_map"]["side_by_side"])
        assert heatmap.shape == (9, 4 * 32 + 20, 4 * 64, 3) and side_by_side.shape == (9, 4 * 32 + 20, 8 * 64, 3)
    assert (out / "run_config.yaml").is_file()
    # the metrics callback is on in tiny_samg.yaml: one line per clip and the run summary
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(video.stem for video in videos)
    for line in lines:
        assert {"id", "flicker", "warping_error", "flow_backend"} <= line.keys() and "temporal_lpips" not in line
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == 3 and set(summary["metrics"]) == {"flicker", "mean_abs_diff", "warping_error", "saturation",
                                                          "colorfulness", "clipped_fraction"}
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
    assert run_here(args + ["--output_dir", str(first)], cwd=workdir).returncode == 0
    assert run_here(args + ["--output_dir", str(second), "--data.batch_size", "1"], cwd=workdir).returncode == 0
    names = [p.name for p in clip_videos(first)]
    assert names == [p.name for p in clip_videos(second)] and len(names) == 2
    for name in names:
        a, b = read_video(first / name).astype(int), read_video(second / name).astype(int)
        assert abs(a - b).max() <= 1  # batch size 2 vs 1: summation order only


def test_every_entry_point_is_the_same_command():
    # lightning and samg-video are installed scripts of the same function (lightning's real processes: this
    # file and most others; python -m samg_video: the sweep's renders in test_sweep.py)
    from importlib.metadata import entry_points

    from samg_video.cli import main

    scripts = {e.name: e for e in entry_points(group="console_scripts") if e.value.startswith("samg_video")}
    assert {name: e.value for name, e in scripts.items()} == {"lightning": "samg_video.cli:main",
                                                               "samg-video": "samg_video.cli:main"}
    assert all(e.load() is main for e in scripts.values())
    assert all((BIN / name).is_file() for name in scripts)


BAD_PROMPT_FILES = {
    "empty.txt": "\n  \n",
    "ragged.csv": "prompt,seed\na cat,1\na dog,2,3\n",
    "broken.jsonl": '{"prompt": "a cat"}\n{"prompt": "a dog"\n',
    "no_prompt.jsonl": '{"prompt": "a cat"}\n{"seed": 3}\n',
    "same_id.jsonl": '{"prompt": "a cat", "id": "pet"}\n{"prompt": "a dog", "id": "pet"}\n',
    "infinite_seed.jsonl": '{"prompt": "a cat", "seed": Infinity}\n',
    "fractional_seed.jsonl": '{"prompt": "a cat", "seed": 1.5}\n',
    "boolean_seed.jsonl": '{"prompt": "a cat", "seed": true}\n',
    "reserved_id.jsonl": '{"prompt": "a cat", "id": "summary"}\n',
}
SAMG_OPTIONS = "w_min, w_max, energy, norm_scope"


BAD_INPUTS = [
        (["--model.guidance.init_args.w_min", "12"], "w_min=12.0 is greater than w_max=9.6; it must be <= w_max"),
        (["--model.guidance.init_args.w_min", "0"], "w_min=0.0 is not valid; it must be a number > 0"),
        (["--model.guidance.init_args.w_max", "-1"], "w_max=-1.0 is not valid; it must be a number > 0"),
        (["--model.guidance", '{"class_path": "samg_video.guidance.CFG", "init_args": {"scale": 0}}'],
         "scale=0.0 is not valid; it must be a number > 0"),
        (["--model.guidance.init_args.w_mid", "3"],
         f"model.guidance: samg_video.guidance.SAMG has no option 'w_mid'; its options: {SAMG_OPTIONS}"),
        (["--model.guidance", '{"class_path": "samg_video.guidance.Magic"}'],
         "model.guidance.class_path='samg_video.guidance.Magic' cannot be imported"),
        (["--model.guidance.init_args.energy", "l1"], "model.guidance.energy: expected one of 'mean_square', 'l2'"),
        (["--model.num_frames", "10"], "model.num_frames=10 cannot be produced by CogVideoX: 4k+1 frames"),
        (["--model.num_frames", "abc"], "model.num_frames='abc' is not valid: expected int"),
        (["--model.height", "40"], "model.height=40 cannot be produced by CogVideoX: it must be a positive multiple of 16"),
        (["--model.width", "50"], "model.width=50 cannot be produced by CogVideoX: it must be a positive multiple of 16"),
        (["--model.num_inference_steps", "0"], "model.num_inference_steps=0 is not valid; it must be a whole number >= 1"),
        (["--model.family", "sora"], "model.family='sora' is not known; choose one of cogvideox, modelscope, ltx, wan, hunyuan15, sd15, sdxl, sd35"),
        (["--model.family", "sd15", "--model.fps", "null"], "model.num_frames=9 cannot be produced by SD 1.5: it makes images; leave num_frames unset"),
        (["--model.family", "sd35", "--model.num_frames", "null", "--model.fps", "null", "--model.scheduler", "ddim"],
         "model.scheduler='ddim' is not valid for sd35; choose one of flow_euler"),
        (["--model.family", "sdxl", "--model.num_frames", "null"], "model.fps=8 does not apply: sdxl makes images; leave it unset"),
        (["--model.family", "sd35", "--model.num_frames", "null", "--model.fps", "null", "--model.scheduler", "null",
          "--model.height", "40"],
         "model.height=40 cannot be produced by SD 3.5: it must be a positive multiple of 16"),
        (["--data.prompts", "missing.txt"], "data.prompts: file not found: missing.txt"),
        (["--data.prompts", "{dir}/empty.txt"], "empty.txt: no prompts in the file"),
        (["--data.prompts", "{dir}/ragged.csv"], "ragged.csv:3: more values than the header has columns"),
        (["--data.prompts", "{dir}/broken.jsonl"], "broken.jsonl:2: not valid JSON"),
        (["--data.prompts", "{dir}/no_prompt.jsonl"], "no_prompt.jsonl:2: missing or empty 'prompt' (fields: prompt,"),
        (["--data.prompts", "{dir}/same_id.jsonl"], "same_id.jsonl:2: id 'pet' is already used at"),
        (["--data.shard_index", "2", "--data.num_shards", "2"], "data.shard_index=2 is not valid; it must be a whole number in [0, 1]"),
        (["--output_dir", "{dir}/a_file/out"], "cannot be created: {dir}/a_file is a file, not a folder"),
        (["--output_dir", "{dir}/a_file"], "--output_dir {dir}/a_file exists and is not a folder"),
        (["--trainer.devics", "2"], "unrecognized arguments: --trainer.devics 2"),
        (["--model.source", "THUDM/CogVideoX-2b"], "cannot load the cogvideox model 'THUDM/CogVideoX-2b'"),
]
BAD_INPUTS += [  # 0 is a value, not "unset"; the trainer's, the output folder's and the prompt file's limits
        (["--model.num_frames", "0"], "model.num_frames=0 cannot be produced by CogVideoX: 4k+1 frames"),
        (["--model.height", "0"], "model.height=0 cannot be produced by CogVideoX: it must be a positive multiple of 16"),
        (["--model.fps", "0"], "model.fps=0 is not valid; it must be a whole number >= 1"),
        (["--model.width", "1600000"], "model.width=1600000 is too large; samg-video renders at most 4096 pixels"),
        (["--trainer.devices", "0"], "trainer: `Trainer(devices='0')` value is not a valid input using cpu accelerator"),
        (["--trainer.devices", "-1"], "trainer: `devices` selected with `CPUAccelerator` should be an int > 0"),
        (["--trainer.accelerator", "cpux"], "trainer: You selected an invalid accelerator name: `accelerator='cpux'`"),
        (["--output_dir", "/proc/samg-video-out"], "--output_dir /proc/samg-video-out cannot be created: No such file"),
        (["--output_dir", "/sys/samg-video-out"], "--output_dir /sys/samg-video-out cannot be created: Operation not "
                                                  "permitted"),
        (["--output_dir", ""], "--output_dir is empty; give the folder to write into"),
        (["--data.prompts", "[]"], "data.prompts is an empty list; give at least one prompt"),
        (["--data.prompts", "{dir}/infinite_seed.jsonl"], "infinite_seed.jsonl:1: 'seed'=Infinity is not a whole number"),
        (["--data.prompts", "{dir}/fractional_seed.jsonl"], "fractional_seed.jsonl:1: 'seed'=1.5 is not a whole number"),
        (["--data.prompts", "{dir}/boolean_seed.jsonl"], "boolean_seed.jsonl:1: 'seed'=true is not a whole number"),
        (["--data.prompts", "{dir}/reserved_id.jsonl"], "reserved_id.jsonl:1: id 'summary' is the name of one of the "
                                                        "run's own files; choose another (reserved: errors, failures, "
                                                        "metrics, run_config, summary)"),
]
LTX = ["--model.family", "ltx", "--model.scheduler", "flow_euler"]
WAN = ["--model.family", "wan", "--model.scheduler", "unipc", "--model.height", "32", "--model.width", "32"]
BAD_INPUTS += [  # LTX-Video's frame and size rules, and its hub id offline
        ([*LTX, "--model.num_frames", "13"], "model.num_frames=13 cannot be produced by LTX-Video: 8k+1 frames between 9 and 257"),
        ([*LTX, "--model.width", "48"], "model.width=48 cannot be produced by LTX-Video: it must be a positive multiple of 32"),
        ([*LTX, "--model.source", "Lightricks/LTX-Video"], "cannot load the ltx model 'Lightricks/LTX-Video'"),
        # Wan's
        ([*WAN, "--model.num_frames", "80"], "model.num_frames=80 cannot be produced by Wan: 4k+1 frames between 5 and 121"),
        ([*WAN, "--model.height", "40"], "model.height=40 cannot be produced by Wan: it must be a positive multiple of 16"),
        ([*WAN, "--model.source", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"],
         "cannot load the wan model 'Wan-AI/Wan2.1-T2V-1.3B-Diffusers'"),
        # HunyuanVideo 1.5's, and its hub id offline
        (["--model.family", "hunyuan15", "--model.scheduler", "flow_euler", "--model.num_frames", "10"],
         "model.num_frames=10 cannot be produced by HunyuanVideo 1.5: 4k+1 frames between 5 and 121"),
        (["--model.family", "hunyuan15", "--model.scheduler", "flow_euler", "--model.source",
          "hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v"],
         "cannot load the hunyuan15 model 'hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v'"),
        # the toy model: its own family and size only
        (["--model.source", "toy", "--model.height", "64", "--model.width", "64"],
         "model.source='toy' makes 32x32 clips of 9 frames only"),
        (["--model.source", "toy", "--model.family", "ltx", "--model.scheduler", "flow_euler"],
         "model.source='toy' is a cogvideox model; set model.family: cogvideox"),
]
if not torch.cuda.is_available():
    BAD_INPUTS.append((["--trainer.accelerator", "gpu"], "trainer: No supported gpu backend found!"))
if importlib.util.find_spec("mlflow") is None:  # a logger whose package is missing
    BAD_INPUTS.append((["--trainer.logger", "MLFlowLogger"],
                       "a configured class needs a package that is not installed: Requirement 'mlflow"))


def bad_input_args(tmp_path, args):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name, text in BAD_PROMPT_FILES.items():
        (inputs / name).write_text(text)
    (inputs / "a_file").write_text("not a folder")
    args = [arg.replace("{dir}", str(inputs)) for arg in args]
    full_args = ["predict", "-c", str(TINY_CONFIG), "--output_dir", str(tmp_path / "out")]
    if "--data.prompts" not in args:
        full_args += ["--data.prompts", str(TINY_PROMPTS)]
    return full_args + args, inputs


def assert_failed_cleanly(returncode, stderr, message, tmp_path, workdir, inputs):
    assert returncode == 2
    errors = [line for line in stderr.splitlines() if line.startswith("samg-video: error:")]
    assert len(errors) == 1 and message.replace("{dir}", str(inputs)) in errors[0], stderr[-2000:]
    assert "Traceback" not in stderr and "usage:" not in stderr and "Seed set" not in stderr
    assert not (tmp_path / "out").exists() and list(workdir.iterdir()) == []
    assert sorted(p.name for p in inputs.iterdir()) == sorted([*BAD_PROMPT_FILES, "a_file"])  # inputs untouched


@pytest.mark.parametrize("args, message", BAD_INPUTS)
def test_bad_input_fails_cleanly_before_writing(workdir, tmp_path, args, message, capsys, monkeypatch):
    """Every case through the CLI's entry function (in this process: the suite stays fast)."""
    from samg_video.cli import main

    full_args, inputs = bad_input_args(tmp_path, args)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the same error as an unreachable hub, without waiting on DNS
    monkeypatch.delenv("SAMG_VIDEO_DEBUG", raising=False)
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):  # Lightning's handlers keep an earlier test's stderr
            if type(handler) is logging.StreamHandler:
                monkeypatch.setattr(handler, "stream", sys.stderr)
    with pytest.raises(SystemExit) as exit_info:
        main(full_args)
    assert_failed_cleanly(exit_info.value.code, capsys.readouterr().err, message, tmp_path, workdir, inputs)


# a real process for the two ways an error arrives: from a class's checks, and from the argument parser
@pytest.mark.parametrize("case", [0, 22], ids=["value", "unknown-argument"])
def test_bad_input_in_a_real_process_exits_2_with_one_line(workdir, tmp_path, case):
    args, message = BAD_INPUTS[case]
    full_args, inputs = bad_input_args(tmp_path, args)
    result = run(full_args, cwd=workdir)
    assert_failed_cleanly(result.returncode, result.stderr, message, tmp_path, workdir, inputs)


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
        assert printed["model"]["class_path"] == "samg_video.modules.ClipEvaluator"
        assert printed["data"]["class_path"] == "datamodules.videos.VideoFolderDataModule"
        assert "samg_video.callbacks.ClipMetrics" in callbacks
        return
    assert printed["model"]["class_path"] == "samg_video.modules.VideoGenerator"
    assert printed["data"]["class_path"] == "datamodules.prompts.PromptDataModule"
    # every render config scores its clips, before the writer so that each clip's JSON gets them
    assert callbacks.index("samg_video.callbacks.ClipMetrics") < callbacks.index("samg_video.callbacks.ClipWriter")
    maps = [c for c in printed["trainer"]["callbacks"] if c["class_path"] == "samg_video.callbacks.ScaleMapWriter"]
    if "samg" in config.name:  # listed before the writer; on in the tiny and toy configs, off in the big ones
        assert callbacks.index(maps[0]["class_path"]) < callbacks.index("samg_video.callbacks.ClipWriter")
        assert maps[0]["init_args"]["enabled"] == config.name.startswith(("tiny", "toy"))


def test_a_baseline_is_selected_from_the_same_config_key_and_the_input_config_is_never_overwritten(workdir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    config = out / "run_config.yaml"  # the name of the run's own record of its config
    config.write_text(TINY_CONFIG.read_text())
    before = config.read_text()
    guidance = '{"class_path": "samg_video.guidance.APG", "init_args": {"scale": 6.0, "eta": 0.0}}'
    result = run_here(["predict", "-c", str(config), "--output_dir", str(out), "--data.prompts", "[a cat]",
                       "--model.num_inference_steps", "2", "--model.guidance", guidance], cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert config.read_text() == before and len(clip_videos(out)) == 1
    metadata = json.loads(next(p for p in out.glob("a-cat-*.json")).read_text())
    assert metadata["guidance"] == {"class_path": "samg_video.guidance.APG",
                                    "init_args": {"scale": 6.0, "eta": 0.0, "norm_threshold": 15.0, "momentum": 0.0}}
    # the scale-map writer of tiny_samg.yaml has nothing to show for APG: it says so once and writes nothing
    assert (result.stderr + result.stdout).count("APG has no per-voxel scale map") == 1
    assert "scale_map" not in metadata and not list(out.glob("*.scale_map.*"))
