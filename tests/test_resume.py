"""Resume: a re-run renders only clips that are not complete; a killed run leaves nothing that looks complete."""

import json
import os
import signal
import subprocess
import time

import pytest
from cli_runs import BIN, FAST, TINY_CONFIG, cli_env, lines_of, run_here

from samg_video.errors import ConfigurationError
from samg_video.files.media import is_scale_map_picture, write_json
from samg_video.files.records import append_line, drop_lines, read_lines, set_aside_damaged_lines
from samg_video.files.resume import (
    check_output_dir,
    complete_metadata,
    plan_resume,
    remove_stale_temporaries,
)

SETTINGS = {"num_frames": 9, "height": 32, "width": 64, "fps": 8, "model": {"family": "cogvideox"},
            "guidance": {"class_path": "samg_video.guidance.SAMG", "init_args": {"w_min": 4.0, "bounds": (0.1, 0.9)}}}


def fake_clip(directory, clip_id, prompt="a cat", seed=1, settings=SETTINGS, payload=b"mp4 bytes"):
    """A clip as the writer leaves it: the mp4, then the JSON recording its size and checksum."""
    import hashlib

    (directory / f"{clip_id}.mp4").write_bytes(payload)
    metadata = {"id": clip_id, "prompt": prompt, "negative_prompt": "", "seed": seed, **settings,
                "video": {"file": f"{clip_id}.mp4", "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}}
    write_json(directory / f"{clip_id}.json", metadata)


def item(clip_id, prompt="a cat", seed=1):
    return {"id": clip_id, "prompt": prompt, "negative_prompt": "", "seed": seed}


def test_a_clip_is_complete_only_when_its_json_matches_its_mp4(tmp_path):
    fake_clip(tmp_path, "whole")
    assert complete_metadata(tmp_path, "whole")["id"] == "whole"
    fake_clip(tmp_path, "no-json")
    os.unlink(tmp_path / "no-json.json")
    fake_clip(tmp_path, "no-mp4")
    os.unlink(tmp_path / "no-mp4.mp4")
    fake_clip(tmp_path, "resized")
    (tmp_path / "resized.mp4").write_bytes(b"mp4 bytes, longer")
    fake_clip(tmp_path, "same-size")
    (tmp_path / "same-size.mp4").write_bytes(b"MP4 bytes")  # same length, other content
    fake_clip(tmp_path, "cut-json")
    (tmp_path / "cut-json.json").write_text('{"id": "cut-json", "vid')
    for clip_id in ("no-json", "no-mp4", "resized", "same-size", "cut-json", "never-written"):
        assert complete_metadata(tmp_path, clip_id) is None, clip_id


def test_plan_skips_complete_clips_and_renders_the_rest(tmp_path):
    fake_clip(tmp_path, "done")
    fake_clip(tmp_path, "broken")
    (tmp_path / "broken.mp4").write_bytes(b"")
    items = [item("done"), item("broken"), item("new")]
    plan = plan_resume(tmp_path, items, SETTINGS)
    assert plan.complete == ["done"] and [i["id"] for i in plan.to_render] == ["broken", "new"]
    overwrite = plan_resume(tmp_path, items, SETTINGS, overwrite=True)
    assert [i["id"] for i in overwrite.to_render] == ["done", "broken", "new"] and overwrite.replaced == ["done"]
    assert plan_resume(tmp_path / "absent", items, SETTINGS).to_render == items


def test_plan_refuses_complete_clips_rendered_with_other_settings(tmp_path):
    fake_clip(tmp_path, "done")
    other = {**SETTINGS, "guidance": {"class_path": "samg_video.guidance.SAMG",
                                      "init_args": {"w_min": 5.0, "bounds": (0.1, 0.9)}}}
    with pytest.raises(ConfigurationError, match=r"clip done rendered with other settings: guidance.init_args.w_min "
                                                 r"was 4.0, this run has 5.0.*--overwrite"):
        plan_resume(tmp_path, [item("done")], other)
    with pytest.raises(ConfigurationError, match="prompt was \"a cat\", this run has \"a dog\""):
        plan_resume(tmp_path, [item("done", prompt="a dog")], SETTINGS)  # an explicit id reused
    assert plan_resume(tmp_path, [item("done")], other, overwrite=True).replaced == ["done"]


def test_record_files_drop_lines_of_clips_rendered_again(tmp_path):
    path = tmp_path / "metrics.jsonl"
    for clip_id in ("a", "b", "a", "c"):
        append_line(path, {"id": clip_id, "value": 1})
    with open(path, "a") as f:
        f.write('{"id": "d", "val')  # cut short by a crash
    assert drop_lines(path, ["a"]) == 2  # both lines of a; the damaged line stays, never lost
    assert path.read_text().splitlines()[-1] == '{"id": "d", "val' and set(read_lines(path)) == {"b", "c"}
    assert drop_lines(path, []) == 0 and drop_lines(tmp_path / "absent.jsonl", ["a"]) == 0
    assert set_aside_damaged_lines(path) == 1  # what a run does when it starts
    assert [line["id"] for line in lines_of(path)] == ["b", "c"]
    assert (tmp_path / "metrics.jsonl.damaged").read_text() == '{"id": "d", "val\n'


def test_stale_temporaries_of_the_run_are_removed_and_others_kept(tmp_path):
    for name in (".a.x1.tmp.mp4", ".a.x2.tmp.json", ".ab.x3.tmp.mp4", "a.mp4", ".metrics.jsonl.lock"):
        (tmp_path / name).write_bytes(b"")
    assert remove_stale_temporaries(tmp_path, ["a"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ab.x3.tmp.mp4", ".metrics.jsonl.lock", "a.mp4"]


def test_output_dir_check_creates_nothing(tmp_path):
    check_output_dir(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigurationError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "file" / "deeper" / "out")


def clip_ids(directory):
    """The clips whose JSON is there; a writer's temporaries (hidden, ``.ID.xxxx.tmp.json``) are not clips."""
    return sorted(p.stem for p in directory.glob("*.json") if p.stem != "summary" and not p.name.startswith("."))


def fingerprints(directory):
    """Inode and modification time of every clip file: unchanged when a re-run skips the clip."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in directory.iterdir()
            if p.suffix in (".mp4", ".json") and not p.name.startswith(("summary", "run_config"))
            and not is_scale_map_picture(p)}


def test_rerun_renders_only_missing_clips_and_overwrite_renders_all(workdir, tmp_path):
    out = tmp_path / "out"
    args = ["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", "[a cat, a dog, a bird]", *FAST]
    assert run_here(args, cwd=workdir).returncode == 0
    before = fingerprints(out)
    assert len(before) == 6 and len(lines_of(out / "metrics.jsonl")) == 3
    dog = next(p for p in out.glob("a-dog-*.json"))
    dog.unlink()  # as if the run had been killed between the dog's mp4 and its JSON
    metrics = out / "metrics.jsonl"
    metrics.write_text(metrics.read_text() * 3)  # as older versions could leave it after concurrent runs

    result = run_here(args, cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming: 2 of 3 clips are complete" in result.stderr + result.stdout
    assert "held 6 duplicated lines (from an older version); kept one line per clip" in result.stderr
    after = fingerprints(out)
    assert {k: v for k, v in after.items() if not k.startswith("a-dog")} == \
           {k: v for k, v in before.items() if not k.startswith("a-dog")}
    assert after[dog.name] and after[dog.with_suffix(".mp4").name] != before[dog.with_suffix(".mp4").name]
    lines = lines_of(out / "metrics.jsonl")
    assert sorted(line["id"] for line in lines) == clip_ids(out)  # one line per clip
    assert json.loads((out / "summary.json").read_text())["clips"] == 3

    result = run_here(args + ["--overwrite"], cwd=workdir)
    assert result.returncode == 0 and "3 of them replacing complete clips" in result.stderr + result.stdout
    assert all(fingerprints(out)[name] != value for name, value in after.items())
    assert len(lines_of(out / "metrics.jsonl")) == 3


def test_killed_run_leaves_nothing_that_looks_complete_and_the_next_run_finishes(workdir, tmp_path):
    out = tmp_path / "out"
    prompts = [f"clip number {i}" for i in range(6)]
    args = ["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", f"[{', '.join(prompts)}]",
            "--data.batch_size", "1", "--model.num_inference_steps", "8"]
    process = subprocess.Popen([str(BIN / "lightning"), *map(str, args)], cwd=workdir, env=cli_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.is_dir() or len(clip_ids(out)) < 2):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # mid-run: the third clip is being rendered, scored or written
    process.wait()
    survivors = clip_ids(out)
    assert 2 <= len(survivors) < 6
    for clip_id in survivors:  # whatever looks complete is complete
        assert complete_metadata(out, clip_id) is not None
    before = {name: value for name, value in fingerprints(out).items() if name.split(".")[0] in survivors}

    result = run_here(args, cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming: {len(survivors)} of 6 clips are complete" in result.stderr + result.stdout
    ids = clip_ids(out)
    assert len(ids) == 6 and all(complete_metadata(out, clip_id) for clip_id in ids)
    assert {name: value for name, value in fingerprints(out).items() if name in before} == before
    assert sorted(line["id"] for line in lines_of(out / "metrics.jsonl")) == ids
    assert not list(out.glob(".*.tmp.*"))


def test_a_clip_whose_media_no_longer_matches_its_json_is_rendered_again(workdir, tmp_path):
    # completeness is one rule: the plan and the per-clip claims both take it from the JSON matching the media
    out = tmp_path / "out"
    args = ["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", "[a cat, a dog]", *FAST]
    assert run_here(args, cwd=workdir).returncode == 0
    cat = next(p for p in out.glob("a-cat-*.json")).stem
    (out / f"{cat}.mp4").write_bytes((out / f"{cat}.mp4").read_bytes() + b"changed")
    assert complete_metadata(out, cat) is None
    result = run_here(args, cwd=workdir)
    assert result.returncode == 0 and result.stderr.strip().splitlines()[-1].startswith(
        "samg-video: done: 1 clips rendered, none failed, 1 already complete;"), result.stderr[-2000:]
    assert complete_metadata(out, cat) is not None and len(lines_of(out / "metrics.jsonl")) == 2
