"""Evaluation runs over folders of existing clips, the metrics callback, and the comparison report."""

import json
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from cli_runs import load_script, run, run_here
from lightning.pytorch import Trainer

from datamodules.videos import VideoFolderDataModule
from samg_video.callbacks.clip_metrics import ClipMetrics
from samg_video.callbacks.clip_writer import ClipWriter
from samg_video.errors import ConfigurationError
from samg_video.files.media import write_mp4
from samg_video.metrics import temporal_flickering
from samg_video.modules.clip_evaluator import ClipEvaluator

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EVALUATE = ROOT / "configs" / "evaluate_clips.yaml"


def moving_clip(frames=8, height=32, width=64, seed=0, noise=0):
    rng = np.random.default_rng(seed)
    scene = rng.integers(0, 256, (height, width + 2 * frames, 3), dtype=np.uint8)
    clip = np.stack([scene[:, 2 * t:2 * t + width] for t in range(frames)]).astype(np.int16)
    clip += rng.integers(-noise, noise + 1, clip.shape, dtype=np.int16) if noise else 0
    return np.clip(clip, 0, 255).astype(np.uint8)


def write_with_codec(path, frames, codec, pixel_format="yuv420p"):
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=8)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pixel_format
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def sidecar(path, prompt, seed):
    path.with_suffix(".json").write_text(json.dumps({"prompt": prompt, "seed": seed, "guidance": {"class_path": "x"}}))


@pytest.fixture
def clips_dir(tmp_path):
    """Four readable clips in four containers, and three broken files."""
    folder = tmp_path / "clips"
    lossless = moving_clip(seed=1)
    write_mp4(folder / "lossless.mp4", lossless, fps=8, lossless=True)
    sidecar(folder / "lossless.mp4", "a red panda", 7)
    write_with_codec(folder / "nested" / "clip.avi", moving_clip(seed=2), "mpeg4")
    write_with_codec(folder / "clip.mov", moving_clip(seed=3), "libx264")
    write_with_codec(folder / "narrow.webm", moving_clip(seed=4, width=48), "libvpx-vp9")
    (folder / "zero.mp4").write_bytes(b"")
    (folder / "not_a_video.mp4").write_text("hello")
    whole = (folder / "clip.mov").read_bytes()
    (folder / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    (folder / ".unfinished.tmp.mp4").write_bytes(b"")  # a writer's temporary: not a clip
    return folder, lossless


def run_cli(args, cwd, real_process=False):
    """An evaluation run, with an empty torch hub folder (no LPIPS weights found by chance); in this process
    unless the process boundary is what the test is about (DDP)."""
    home = {"TORCH_HOME": str(cwd / "torch_home")}
    return run(args, cwd=cwd, **home) if real_process else run_here(args, cwd=cwd, **home)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_evaluation_run_scores_good_clips_and_lists_broken_ones(clips_dir, tmp_path):
    folder, lossless = clips_dir
    out = tmp_path / "out"
    command = ["predict", "-c", str(EVALUATE), "--data.clips_dir", str(folder), "--output_dir", str(out),
               "--trainer.accelerator", "cpu"]
    result = run_cli(command, cwd=tmp_path)
    # unreadable files: exit 1 and a last line that counts them and says where they are listed
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"samg-video: 3 of 7 clips could not be read; see {out / 'errors.jsonl'}; 4 scored, summary in "
        f"{out / 'summary.json'}")
    lines = {line["id"]: line for line in read_jsonl(out / "metrics.jsonl")}
    assert set(lines) == {"lossless.mp4", "nested/clip.avi", "clip.mov", "narrow.webm"}
    for line in lines.values():
        assert {"id", "flicker", "warping_error", "flow_backend", "temporal_lpips"} <= line.keys()
        assert 0 <= line["flicker"] <= 1 and line["warping_error"] > 0 and line["flow_backend"] == "dis_medium"
        assert line["temporal_lpips"] is None and "lpips_weights" in line["null_reasons"]["temporal_lpips"]
    # a lossless file scores exactly as its frames did before encoding
    assert lines["lossless.mp4"]["flicker"] == temporal_flickering(lossless).value
    assert (lines["lossless.mp4"]["prompt"], lines["lossless.mp4"]["seed"]) == ("a red panda", 7)
    assert lines["narrow.webm"]["width"] == 48 and "vp9" in lines["narrow.webm"]["frames"]
    errors = {line["id"]: line["reason"] for line in read_jsonl(out / "errors.jsonl")}
    assert set(errors) == {"zero.mp4", "not_a_video.mp4", "truncated.mp4"}
    assert "0 bytes" in errors["zero.mp4"] and all(errors.values())
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == 4 and summary["errors"] == 3
    # one clip's JSON names a guidance and no model, three clips are foreign: nothing is attributed to one
    assert summary["guidance"] == "mixed" and summary["model"] == "unknown"
    assert summary["breakdown"]["guidance"] == [{"value": {"class_path": "x"}, "clips": 1}, {"value": None, "clips": 3}]
    assert summary["flow_backend"] == "dis_medium"
    assert summary["metrics"]["flicker"]["count"] == 4 and summary["metrics"]["temporal_lpips"]["null_count"] == 4
    assert np.isclose(summary["metrics"]["flicker"]["mean"], np.mean([v["flicker"] for v in lines.values()]))
    csv_rows = (out / "summary.csv").read_text().splitlines()
    # a row per metric: flicker, mean_abs_diff, warping_error, temporal_lpips, clip_score, the three colour metrics
    assert csv_rows[0].startswith("metric,mean,std,count") and len(csv_rows) == 9
    assert "clip_score,,,0,4," in csv_rows[5]  # no CLIP weights offline: null for every clip, with the reason
    assert all("not in the local Hugging Face cache" in line["null_reasons"]["clip_score"] for line in lines.values())
    assert csv_rows[-1].endswith(",unknown,mixed")  # the model and guidance as the summary says, unquoted

    # run again into the same folder: nothing scored twice, the unreadable files tried again; one line per clip
    before = {p.name: p.read_bytes() for p in (out / "metrics.jsonl", out / "errors.jsonl")}
    for attempt in range(2):
        again = run_cli(command, cwd=tmp_path)
        assert again.returncode == 1 and again.stderr.strip().splitlines()[-1] == (
            f"samg-video: 3 of 3 clips could not be read; see {out / 'errors.jsonl'}; 0 scored, 4 scored before, "
            f"summary in {out / 'summary.json'}")
        assert "resuming: 4 of 7 clips are scored" in again.stderr
        assert (out / "metrics.jsonl").read_bytes() == before["metrics.jsonl"]
        assert sorted(line["id"] for line in read_jsonl(out / "errors.jsonl")) == sorted(errors)
        assert json.loads((out / "summary.json").read_text())["clips"] == 4
    # --overwrite scores every clip again
    again = run_cli([*command, "--overwrite"], cwd=tmp_path)
    assert again.returncode == 1 and "; 4 scored, summary in" in again.stderr.strip().splitlines()[-1]
    assert len(read_jsonl(out / "metrics.jsonl")) == 4 and len(read_jsonl(out / "errors.jsonl")) == 3


def test_evaluation_resamples_frame_count_and_size(clips_dir, tmp_path):
    folder, _ = clips_dir
    out = tmp_path / "out"
    result = run_cli(["predict", "-c", str(EVALUATE), "--data.clips_dir", str(folder), "--output_dir", str(out),
                      "--trainer.accelerator", "cpu", "--data.num_frames", "5", "--data.height", "16", "--data.width",
                      "24"], cwd=tmp_path)
    assert result.returncode == 1  # 3 unreadable files
    for line in read_jsonl(out / "metrics.jsonl"):
        assert (line["num_frames"], line["height"], line["width"]) == (5, 16, 24)
        assert len(line["warping_error_per_pair"]) == 4


@pytest.mark.parametrize("args, message", [
    (["--data.clips_dir", "/nonexistent/folder"], "data.clips_dir='/nonexistent/folder' is not a folder"),
    (["--data.num_frames", "1"], "data.num_frames=1 is not valid"),
    (["--data.width", "0"], "data.width=0 is not valid"),
    (["--data.clips_dir", "null"], "data.clips_dir is required"),
    ("flow_backend: flownet", "flow_backend='flownet' is not valid; choose one of dis, farneback, raft_large"),
    ("lpips_weights: /missing/alexnet.pth", "lpips_weights='/missing/alexnet.pth': no such file"),
])
def test_evaluation_bad_input_fails_before_work_with_a_clear_message(clips_dir, tmp_path, args, message):
    folder, _ = clips_dir
    out = tmp_path / "out"
    config = EVALUATE
    if isinstance(args, str):  # an edited config file
        key = args.split(":")[0]
        config = tmp_path / "edited.yaml"
        lines = [f"        {args}" if line.strip().startswith(f"{key}:") else line
                 for line in EVALUATE.read_text().splitlines()]
        config.write_text("\n".join(lines) + "\n")
        args = []
    command = ["predict", "-c", str(config), "--data.clips_dir", str(folder), "--output_dir", str(out), *args]
    result = run_cli(command, cwd=tmp_path)  # exit 2 in a real process: test_cli.py
    status, stderr = result.returncode, result.stderr
    assert status == 2
    assert message in stderr and "Traceback" not in stderr
    assert not (out / "metrics.jsonl").exists()


def test_scoring_a_folder_into_itself_is_refused_before_any_work(clips_dir, tmp_path, capsys, monkeypatch):
    from samg_video.cli import main

    folder, _ = clips_dir
    monkeypatch.chdir(tmp_path)  # in this process: faster; the real process is tested with the bad inputs above
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "-c", str(EVALUATE), "--data.clips_dir", str(folder), "--output_dir", str(folder),
              "--trainer.accelerator", "cpu"])
    assert exit_info.value.code == 2 and "is the folder being scored" in capsys.readouterr().err
    assert not (folder / "metrics.jsonl").exists() and not (folder / "run_config.yaml").exists()


def test_an_empty_folder_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="holds no clips.*.mp4, .mov, .webm, .avi"):
        VideoFolderDataModule(str(tmp_path))


def evaluate_in_process(folder, out, background):
    metrics = ClipMetrics(metrics=["flicker", "warping_error"], background=background)
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      default_root_dir=str(out), callbacks=[metrics])
    trainer.predict(ClipEvaluator(), datamodule=VideoFolderDataModule(str(folder), batch_size=2))
    return {line["id"]: line for line in read_jsonl(out / "metrics.jsonl")}


def test_background_scoring_gives_the_same_lines_as_inline(clips_dir, tmp_path):
    folder, _ = clips_dir
    inline = evaluate_in_process(folder, tmp_path / "inline", background=False)
    background = evaluate_in_process(folder, tmp_path / "background", background=True)
    assert inline == background and len(inline) == 4
    assert json.loads((tmp_path / "background" / "summary.json").read_text())["errors"] == 3


def test_metrics_callback_must_come_before_the_writer(tmp_path):
    trainer = Trainer(accelerator="cpu", logger=False, default_root_dir=str(tmp_path),
                      callbacks=[ClipWriter(), ClipMetrics(metrics=["flicker"])])
    write_mp4(tmp_path / "clips" / "a.mp4", moving_clip(), fps=8)
    with pytest.raises(ConfigurationError, match="before samg_video.callbacks.ClipWriter"):
        trainer.predict(ClipEvaluator(), datamodule=VideoFolderDataModule(str(tmp_path / "clips")))


def test_compare_runs_writes_a_report_with_paired_differences_and_plots(tmp_path):
    runs = {}
    for name, noise in (("cfg", 0), ("samg", 12)):
        folder = tmp_path / f"clips_{name}"
        for i in range(4):
            path = folder / f"clip{i}.mp4"
            write_mp4(path, moving_clip(seed=i, noise=noise), fps=8, lossless=True)
            sidecar(path, f"prompt {i}", 100 + i)
        runs[name] = tmp_path / name
        evaluate_in_process(folder, runs[name], background=False)
    report = tmp_path / "report"
    assert load_script("compare_runs").main([str(runs["cfg"]), str(runs["samg"]), "--out", str(report),
                                             "--per_clip_plots"]) == 0
    text = (report / "report.md").read_text()
    assert "| cfg |" in text and "| samg |" in text and "95% CI" in text
    numbers = json.loads((report / "report.json").read_text())
    cfg = {line["prompt"]: line["flicker"] for line in read_jsonl(runs["cfg"] / "metrics.jsonl")}
    samg = {line["prompt"]: line["flicker"] for line in read_jsonl(runs["samg"] / "metrics.jsonl")}
    paired = numbers["metrics"]["flicker"]["paired_vs_first"]["samg"]
    assert paired["count"] == 4
    assert paired["mean"] == pytest.approx(np.mean([samg[p] - cfg[p] for p in cfg]))
    assert paired["ci_low"] < paired["mean"] < paired["ci_high"]
    for name in ("scatter_flicker_samg_vs_cfg.png", "scatter_warping_error_samg_vs_cfg.png",
                 "warping_error_curves.png"):  # asked for: in a folder of their own
        assert (report / "per_clip" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![per_clip/warping_error_curves.png](per_clip/warping_error_curves.png)" in text
    assert not list(report.glob("scatter_*"))


def test_compare_runs_says_when_a_folder_has_no_metrics(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    code = load_script("compare_runs").main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r")])
    assert code == 2 and "no metrics.jsonl" in capsys.readouterr().err and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_evaluation_on_two_ranks_scores_every_clip_once_and_summarises_once(clips_dir, tmp_path):
    folder, _ = clips_dir
    out = tmp_path / "out"
    result = run_cli(["predict", "-c", str(EVALUATE), "--data.clips_dir", str(folder), "--output_dir", str(out),
                      "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"],
                     cwd=tmp_path, real_process=True)
    assert result.returncode == 1, result.stderr[-3000:]  # 3 unreadable files, counted over both ranks
    assert result.stderr.count("3 of 7 clips could not be read") == 1  # told once, by rank 0
    assert result.stderr.count("temporal LPIPS is unavailable") == 1  # warned once per run, not per rank
    scored = [line["id"] for line in read_jsonl(out / "metrics.jsonl")]
    failed = [line["id"] for line in read_jsonl(out / "errors.jsonl")]
    assert sorted(scored) == sorted({"lossless.mp4", "nested/clip.avi", "clip.mov", "narrow.webm"})
    assert sorted(failed) == sorted({"zero.mp4", "not_a_video.mp4", "truncated.mp4"})
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == 4 and summary["errors"] == 3 and summary["metrics"]["flicker"]["count"] == 4


def test_report_says_null_for_every_clip_when_no_clip_has_the_metric():
    compare_runs = load_script("compare_runs")

    def run_of(label, lpips):
        records = {("id", f"c{i}"): {"id": f"c{i}", "flicker": 0.9, "temporal_lpips": value}
                   for i, value in enumerate(lpips)}
        reasons = {"temporal_lpips": ["weights not found"]} if None in lpips else {}
        return {"dir": Path(label), "label": label, "records": records, "summary": {}, "reasons": reasons}

    everywhere = compare_runs.markdown(compare_runs.compare([run_of("a", [None, None]), run_of("b", [None, None])],
                                                            ["temporal_lpips"]), [])
    assert "Null for every clip: weights not found" in everywhere
    partly = compare_runs.markdown(compare_runs.compare([run_of("a", [None, 0.1]), run_of("b", [0.2, 0.1])],
                                                        ["temporal_lpips"]), [])
    assert "Null for 1 of 4 clips: weights not found" in partly


def test_clip_score_of_foreign_clips_takes_prompts_from_the_json_or_a_prompts_file(clips_dir, tmp_path):
    from tiny_clip import save_tiny_clip

    folder, _ = clips_dir
    clip_model = save_tiny_clip(tmp_path / "clip")
    prompts = tmp_path / "prompts.json"  # by path under the folder, by file name, by stem
    prompts.write_text(json.dumps({"nested/clip.avi": "a dog", "clip.mov": "a boat", "lossless": "a red fox"}))
    out = tmp_path / "out"
    metrics = ClipMetrics(metrics=["clip_score", "saturation"], clip_model=str(clip_model), background=False)
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      default_root_dir=str(out), callbacks=[metrics])
    trainer.predict(ClipEvaluator(), datamodule=VideoFolderDataModule(str(folder), prompts_file=str(prompts)))
    lines = {line["id"]: line for line in read_jsonl(out / "metrics.jsonl")}
    assert (lines["nested/clip.avi"]["prompt"], lines["clip.mov"]["prompt"]) == ("a dog", "a boat")
    assert lines["lossless.mp4"]["prompt"] == "a red fox"  # the prompts file wins over the clip's JSON
    for clip_id in ("nested/clip.avi", "clip.mov", "lossless.mp4"):
        assert lines[clip_id]["clip_score"] >= 0 and len(lines[clip_id]["clip_score_per_frame"]) == 8
    assert lines["narrow.webm"]["clip_score"] is None  # no JSON and not in the prompts file
    assert lines["narrow.webm"]["null_reasons"]["clip_score"] == "no prompt for this clip"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["clip_score"]["count"] == 3 and summary["metrics"]["clip_score"]["null_count"] == 1
    with pytest.raises(ConfigurationError, match="data.prompts_file=.* must be a JSON object"):
        (tmp_path / "list.json").write_text('["a cat"]')
        VideoFolderDataModule(str(folder), prompts_file=str(tmp_path / "list.json"))
