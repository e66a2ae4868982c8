"""Distributed predict through the CLI on 2 CPU processes (Lightning's DDP): every clip exactly once, the same
frames as on one rank, one summary from all ranks, failures counted over ranks, ranks left without clips."""

import json

import yaml
from cli_runs import FAST, TINY_CONFIG, TWO_CPU_RANKS, lines_of, run

from datamodules.prompts import PromptDataModule
from samg_video.files.media import read_video

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


def test_two_ranks_render_each_clip_once_like_one_rank_and_resume(workdir, tmp_path):
    config = lossless_config(tmp_path)
    args = ["predict", "-c", config, "--data.prompts", f"[{', '.join(PROMPTS)}]", "--data.batch_size", "1", *FAST]
    ids = {item["prompt"]: item["id"] for item in PromptDataModule(PROMPTS).items}
    single, double = tmp_path / "one_rank", tmp_path / "two_ranks"
    assert run(args + ["--output_dir", single], cwd=workdir).returncode == 0

    double.mkdir()
    (double / f"{ids['a fish']}.mp4").mkdir()  # this clip cannot be written: a failure on one of the ranks
    result = run(args + ["--output_dir", double, *TWO_CPU_RANKS], cwd=workdir, timeout=150)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.count("samg-video: 1 of 5 clips failed") == 1  # told once, by rank 0
    lines = lines_of(double / "metrics.jsonl")
    assert sorted(line["id"] for line in lines) == sorted(ids.values())  # each clip scored exactly once
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

