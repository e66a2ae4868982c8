"""Failure isolation: a clip that goes NaN/Inf or cannot be written fails alone; the run goes on and exits 1."""

import json

import numpy as np
import torch
from cli_runs import FAST, TINY_CONFIG, lines_of, run_here

from datamodules.prompts import PromptDataModule
from samg_video.modules.nonfinite import NonFiniteWatch, nonfinite_reason


def test_watch_reports_the_first_nonfinite_step_per_sample():
    watch = NonFiniteWatch()
    latents = torch.zeros(3, 2, 4, 4, 4)
    watch.observe(0, latents)
    latents[1, 0, 0, 0, 0] = float("inf")
    watch.observe(1, latents)
    latents[2, 1, 1, 1, 1] = float("nan")
    watch.observe(2, latents)
    assert watch.first_steps() == [None, 1, 2]
    assert NonFiniteWatch().first_steps() == []


def test_reasons_name_latents_or_frames():
    frames = np.zeros((2, 4, 4, 3), dtype=np.float32)
    assert nonfinite_reason(frames, None, 50) is None
    assert nonfinite_reason(frames, 6, 50) == "latents became NaN/Inf at sampling step 7 of 50"
    frames[1, 2, 2, 0] = np.nan
    assert nonfinite_reason(frames, None, 50) == "decoded frames contain NaN/Inf"


def test_nan_clip_and_unwritable_clip_fail_alone_and_a_rerun_finishes_the_set(workdir, tmp_path):
    # through the CLI on one rank (in this process); Wan and HunyuanVideo 1.5 on two ranks: test_distributed.py
    out = tmp_path / "out"
    prompts = "[a cat, poison apple, a dog, a bird]"
    args = ["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", prompts, "--data.batch_size", "2",
            "--model.class_path", "faults.PoisonedGenerator", *FAST]
    items = {item["prompt"]: item for item in PromptDataModule(["a cat", "poison apple", "a dog", "a bird"]).items}
    out.mkdir()
    (out / f"{items['a dog']['id']}.mp4").mkdir()  # where the dog's mp4 must go: encoding works, the rename fails

    result = run_here(args, cwd=workdir)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "samg-video: 2 of 4 clips failed" in result.stderr and "Traceback" not in result.stderr
    failures = {line["id"]: line for line in lines_of(out / "failures.jsonl")}
    assert set(failures) == {items["poison apple"]["id"], items["a dog"]["id"]}
    poisoned = failures[items["poison apple"]["id"]]
    assert poisoned["prompt"] == "poison apple" and poisoned["seed"] == items["poison apple"]["seed"]
    assert poisoned["reason"] == "latents became NaN/Inf at sampling step 2 of 2"
    assert failures[items["a dog"]["id"]]["reason"].startswith("writing failed: IsADirectoryError")
    # the others are complete; the poisoned clip left no file, the dog no JSON
    assert sorted(p.stem for p in out.glob("*.json") if p.stem != "summary") == \
           sorted(items[p]["id"] for p in ("a cat", "a bird"))
    assert not list(out.glob(f"{items['poison apple']['id']}*"))
    # a failed clip leaves no trace: no metric line, no scale-map pictures (the dog's "mp4" is the test's folder)
    assert sorted(line["id"] for line in lines_of(out / "metrics.jsonl")) == sorted(items[p]["id"] for p in
                                                                                    ("a cat", "a bird"))
    assert [p.name for p in out.glob(f"{items['a dog']['id']}*")] == [f"{items['a dog']['id']}.mp4"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failures"] == 2 and summary["clips"] == 2

    (out / f"{items['a dog']['id']}.mp4").rmdir()
    again = run_here(args, cwd=workdir)
    assert again.returncode == 1 and "samg-video: 1 of 2 clips failed" in again.stderr  # the poison stays poison
    assert [line["id"] for line in lines_of(out / "failures.jsonl")] == [items["poison apple"]["id"]]
    assert sorted(line["id"] for line in lines_of(out / "metrics.jsonl")) == \
           sorted(items[p]["id"] for p in ("a cat", "a dog", "a bird"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failures"] == 1 and summary["clips"] == 3
