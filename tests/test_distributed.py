"""Distributed predict through the CLI on 2 CPU processes (Lightning's DDP): every clip exactly once, the same
frames as on one rank, one summary from all ranks, failures counted over ranks, ranks left without clips."""

import json

import pytest
import yaml
from cli_runs import FAST, ROOT, TINY_CONFIG, TWO_CPU_RANKS, lines_of, run, run_here

from datamodules.prompts import PromptDataModule
from samg_video.files.media import read_video
from samg_video.files.resume import complete_metadata

PROMPTS = ["a cat", "a dog", "a bird", "a fish", "a horse"]


def test_rank_share_gives_each_item_to_exactly_one_rank_and_allows_empty_ranks():
    from datamodules.rank_share import RankShare

    for items, world in ((5, 2), (3, 8), (16, 4), (0, 3)):
        shares = [list(RankShare(range(items), world, rank)) for rank in range(world)]
        assert sorted(i for share in shares for i in share) == list(range(items))
        assert [len(RankShare(range(items), world, rank)) for rank in range(world)] == [len(s) for s in shares]


def lossless_config(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    writer = next(c for c in config["trainer"]["callbacks"] if c["class_path"].endswith("ClipWriter"))
    writer["init_args"]["lossless"] = True  # compare pixels, not encoder decisions
    path = tmp_path / "lossless.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_two_ranks_render_each_clip_once_like_one_rank_and_resume(workdir, tmp_path):
    config = lossless_config(tmp_path)
    args = ["predict", "-c", config, "--data.prompts", f"[{', '.join(PROMPTS)}]", "--data.batch_size", "1", *FAST]
    ids = {item["prompt"]: item["id"] for item in PromptDataModule(PROMPTS).items}
    single, double = tmp_path / "one_rank", tmp_path / "two_ranks"
    assert run_here(args + ["--output_dir", single], cwd=workdir).returncode == 0  # one rank: in this process

    double.mkdir()
    (double / f"{ids['a fish']}.mp4").mkdir()  # this clip cannot be written: a failure on one of the ranks
    result = run(args + ["--output_dir", double, *TWO_CPU_RANKS], cwd=workdir, timeout=150)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.count("samg-video: 1 of 5 clips failed") == 1  # told once, by rank 0
    lines = lines_of(double / "metrics.jsonl")
    # each clip scored exactly once; the clip that failed leaves no line
    assert sorted(line["id"] for line in lines) == sorted(i for p, i in ids.items() if p != "a fish")
    assert [line["id"] for line in lines_of(double / "failures.jsonl")] == [ids["a fish"]]
    summary = json.loads((double / "summary.json").read_text())
    assert summary["clips"] == 4 and summary["failures"] == 1  # written after both ranks finished
    for prompt in ("a cat", "a dog", "a bird", "a horse"):
        video = f"{ids[prompt]}.mp4"
        assert (read_video(single / video) == read_video(double / video)).all()  # identical frames on 1 or 2 ranks

    # one clip left for two ranks: rank 1 gets none, loads no model, and the run still ends together
    (double / f"{ids['a fish']}.mp4").rmdir()
    result = run(args + ["--output_dir", double, *TWO_CPU_RANKS], cwd=workdir, timeout=150)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming: 4 of 5 clips are complete" in result.stderr + result.stdout
    assert (read_video(single / f"{ids['a fish']}.mp4") == read_video(double / f"{ids['a fish']}.mp4")).all()
    assert sorted(line["id"] for line in lines_of(double / "metrics.jsonl")) == sorted(ids.values())
    assert lines_of(double / "failures.jsonl") == []
    summary = json.loads((double / "summary.json").read_text())
    assert summary["clips"] == 5 and summary["failures"] == 0


def test_batch_mates_do_not_depend_on_the_number_of_ranks():
    from types import SimpleNamespace

    data = PromptDataModule([f"prompt {i}" for i in range(11)], batch_size=3)

    def batches(world):
        found = []
        for rank in range(world):
            data.trainer = SimpleNamespace(world_size=world, global_rank=rank)
            found += [tuple(item["id"] for item in batch) for batch in data.predict_dataloader()]
        return sorted(found)

    one = batches(1)
    assert [len(b) for b in sorted(one, key=len)] == [2, 3, 3, 3]
    assert batches(2) == one and batches(3) == one and batches(8) == one


@pytest.mark.slow
@pytest.mark.parametrize("config", ["tiny_wan_samg.yaml", "tiny_hunyuan15_samg.yaml"])
def test_newer_families_on_two_ranks_isolate_failures_and_resume(workdir, tmp_path, config):
    # failure isolation through the CLI (the same code for every family): a clip that goes NaN and one that cannot
    # be written fail alone, on either rank, and a re-run retries exactly those. Wan calls its transformer twice per
    # step; HunyuanVideo 1.5 guides through its guider, one prompt per call, and has no step callback (its poisoned
    # clip is caught in the decoded frames)
    out = tmp_path / "out"
    prompts = ["a cat", "poison apple", "a dog", "a bird"]
    args = ["predict", "-c", ROOT / "configs" / config, "--output_dir", out, "--data.prompts", f"[{', '.join(prompts)}]",
            "--data.batch_size", "2", "--model.class_path", "faults.PoisonedGenerator", *FAST]
    ids = {item["prompt"]: item["id"] for item in PromptDataModule(prompts).items}
    seeds = {item["prompt"]: item["seed"] for item in PromptDataModule(prompts).items}
    out.mkdir()
    (out / f"{ids['a dog']}.mp4").mkdir()  # where the dog's mp4 must go: encoding works, the rename fails

    result = run(args + TWO_CPU_RANKS, cwd=workdir, timeout=150)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.count("samg-video: 2 of 4 clips failed") == 1 and "Traceback" not in result.stderr
    failures = {line["id"]: line for line in lines_of(out / "failures.jsonl")}
    assert set(failures) == {ids["poison apple"], ids["a dog"]}
    poisoned = failures[ids["poison apple"]]
    assert (poisoned["prompt"], poisoned["seed"]) == ("poison apple", seeds["poison apple"])
    assert poisoned["reason"] == ("decoded frames contain NaN/Inf" if "hunyuan" in config else
                                  "latents became NaN/Inf at sampling step 2 of 2")
    assert failures[ids["a dog"]]["reason"].startswith("writing failed: IsADirectoryError")
    # the others are complete; the poisoned clip left no file, the dog no JSON
    assert sorted(p.stem for p in out.glob("*.json") if p.stem != "summary") == sorted([ids["a cat"], ids["a bird"]])
    assert not list(out.glob(f"{ids['poison apple']}*"))
    for prompt in ("a cat", "a bird"):  # complete clips: metadata, temporal metrics, scale maps
        metadata = json.loads((out / f"{ids[prompt]}.json").read_text())
        assert metadata["model"]["family"] == config.split("_")[1] and complete_metadata(out, ids[prompt]) == metadata
        init = metadata["guidance"]["init_args"]
        assert metadata["scale_map"]["range"] == [init["w_min"], init["w_max"]]
        assert (out / metadata["scale_map"]["scale_map"]).is_file()
    assert all(line["flicker"] is not None for line in lines_of(out / "metrics.jsonl"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == 2 and summary["failures"] == 2  # written once, after both ranks finished
    assert sorted(line["id"] for line in lines_of(out / "metrics.jsonl")) == sorted([ids["a cat"], ids["a bird"]])

    (out / f"{ids['a dog']}.mp4").rmdir()
    again = run_here(args, cwd=workdir)  # one rank, in this process
    assert again.returncode == 1 and "samg-video: 1 of 2 clips failed" in again.stderr  # the poison stays poison
    assert "resuming: 2 of 4 clips are complete" in again.stderr + again.stdout
    assert [line["id"] for line in lines_of(out / "failures.jsonl")] == [ids["poison apple"]]
    assert sorted(line["id"] for line in lines_of(out / "metrics.jsonl")) == \
           sorted(ids[p] for p in ("a cat", "a dog", "a bird"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == 3 and summary["failures"] == 1
