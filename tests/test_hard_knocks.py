"""What large shared runs meet: prompts no file format expects, killed runs' leftovers, full disks, signals
(see also test_first_contact's Ctrl-C / SIGTERM tests and test_cli's table of bad inputs)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from cli_runs import FAST, HELPERS, TINY_CONFIG, cli_env, lines_of, run_here

from datamodules.prompts import PromptDataModule
from samg_video.files.records import append_line, read_lines
from samg_video.files.resume import complete_metadata

# each on its own line of a JSONL file: Unicode line breaks inside, white space that makes prompts distinct,
# a lone surrogate (valid JSON, not valid UTF-8) and a prompt the pipeline refuses, each sharing a batch
HOSTILE_PROMPTS = [
    "a cat\u2028on a mat", "a dog\u2029in the park", "a bird\u0085in the sky", "a fish",
    " a fish", "please explode", "a fish\t", "bad \ud800 surrogate", "a horse\r\nwith two lines", "a cat 🐱 猫",
]
FAILING = {"please explode": "rendering failed: ValueError: the text encoder cannot take this prompt",
           "bad \ud800 surrogate": "the prompt is not valid Unicode text: a lone surrogate U+D800 at character 4"}


def no_scale_maps_config(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["trainer"]["callbacks"] = [c for c in config["trainer"]["callbacks"]
                                      if not c["class_path"].endswith("ScaleMapWriter")]
    path = tmp_path / "no_scale_maps.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_hostile_prompts_survive_records_and_reruns_and_one_bad_prompt_fails_only_its_clip(workdir, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    # raw line separators in the file (valid JSON); the surrogate can only be written as an escape
    prompts.write_text("".join(json.dumps({"prompt": p}, ensure_ascii="\ud800" in p) + "\n" for p in HOSTILE_PROMPTS),
                       encoding="utf-8")
    assert "\u2028" in prompts.read_text(encoding="utf-8")
    out = tmp_path / "out"
    args = ["predict", "-c", no_scale_maps_config(tmp_path), "--output_dir", out, "--data.prompts", prompts,
            "--data.batch_size", "2", "--model.class_path", "faults.PickyGenerator", *FAST]
    ids = {item["prompt"]: item["id"] for item in PromptDataModule(str(prompts)).items}
    assert len(ids) == len(HOSTILE_PROMPTS)  # white space keeps prompts apart: no rows collapse
    out.mkdir()
    leftovers = [".metrics.k1l2m3n4.tmp.jsonl", ".failures.abcd1234.tmp.jsonl", ".summary.x9y8z7w6.tmp.json",
                 ".summary.q1w2e3r4.tmp.csv", ".run_config.zz11yy22.tmp.yaml", f".{ids['a fish']}.u7i8o9p0.tmp.mp4"]
    for name in leftovers + [".keep-me"]:  # what a killed run leaves, and a file of the user's
        (out / name).write_text("left by a killed run")

    for attempt in range(2):  # the second run keeps every record and retries only the two failures
        result = run_here(args, cwd=workdir)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
        assert result.stderr.strip().splitlines()[-1].startswith("samg-video: 2 of ")
        metrics_text = (out / "metrics.jsonl").read_text(encoding="utf-8")
        assert len(metrics_text.splitlines()) == 8  # even a reader that splits on U+2028 sees 8 whole lines
        lines = read_lines(out / "metrics.jsonl")
        assert {line["prompt"] for line in lines.values()} == set(HOSTILE_PROMPTS) - set(FAILING)  # verbatim
        failures = read_lines(out / "failures.jsonl")
        assert {f["prompt"]: f["reason"] for f in failures.values()} == FAILING
        summary = json.loads((out / "summary.json").read_text())
        assert summary["clips"] == 8 and summary["failures"] == 2
        for prompt in set(HOSTILE_PROMPTS) - set(FAILING):
            assert complete_metadata(out, ids[prompt])["prompt"] == prompt
    assert "resuming: 8 of 10 clips are complete" in result.stderr
    assert sorted(p.name for p in out.glob(".*") if p.is_file() and not p.name.endswith(".lock")) == [".keep-me"]


def test_prompt_files_keep_prompts_verbatim_and_split_rows_only_at_their_ends(tmp_path):
    text = tmp_path / "prompts.txt"
    text.write_bytes("a cat\u2028on a mat\r\n  a dog \n\n\t\nlast\fline".encode())
    table = tmp_path / "prompts.csv"
    table.write_text('prompt,seed\n"two\nlines",1\n"two\r\nlines",1\n  padded ,2\n', encoding="utf-8")
    records = tmp_path / "prompts.jsonl"
    records.write_text('{"prompt": "raw \u2028 separator"}\r\n{"prompt": "x\\u0085y", "seed": "7"}\n', encoding="utf-8")
    prompts = {path.suffix: [i["prompt"] for i in PromptDataModule(str(path)).items] for path in (text, table, records)}
    assert prompts == {".txt": ["a cat\u2028on a mat", "  a dog ", "last\fline"],
                       ".csv": ["two\nlines", "two\r\nlines", "  padded "],
                       ".jsonl": ["raw \u2028 separator", "x\u0085y"]}


def test_a_record_line_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    append_line(path, {"id": "a", "prompt": "first"})
    before = path.read_bytes()
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[: len(data) // 2]))  # the disk fills
    with pytest.raises(OSError, match="No space left on device"):
        append_line(path, {"id": "b", "prompt": "second \ud800 \u2028"})
    assert path.read_bytes() == before
    monkeypatch.undo()
    append_line(path, {"id": "b", "prompt": "second \ud800 \u2028"})
    assert read_lines(path)["b"]["prompt"] == "second \ud800 \u2028"


# ---- a disk that fills up: a real small file system (tmpfs) in a private mount namespace ----------------
DISK_SCRIPT = """
set -eu
mount -t tmpfs -o size=1m tmpfs "$1"
exec "$PYTHON" "$HELPERS/full_disk.py" "$@"
"""


def private_mount_namespace() -> list[str]:
    command = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]
    probe = subprocess.run([*command, "true"], capture_output=True)
    if shutil.which("unshare") is None or probe.returncode != 0:
        pytest.skip("needs unshare to mount a small tmpfs in a private mount namespace")
    return command


@pytest.mark.slow
def test_a_disk_that_fills_up_records_what_it_hit_and_a_rerun_after_freeing_space_completes(workdir, tmp_path):
    namespace = private_mount_namespace()
    disk, results = tmp_path / "disk", tmp_path / "results"
    disk.mkdir()
    results.mkdir()
    prompts = [f"clip number {i}" for i in range(8)]
    args = ["predict", "-c", no_scale_maps_config(tmp_path), "--data.prompts", f"[{', '.join(prompts)}]",
            "--data.batch_size", "1", *FAST]
    # the three runs (full from the start, full after a couple of clips, space freed) in one process
    env = cli_env(PYTHON=sys.executable, HELPERS=str(HELPERS))
    subprocess.run([*namespace, "bash", "-c", DISK_SCRIPT, "disk", str(disk), str(results), *map(str, args)],
                   cwd=workdir, env=env, timeout=400, check=True)

    def outcome(phase):
        stderr = (results / f"{phase}.err").read_text()
        assert "Traceback" not in stderr, stderr[-3000:]
        return int((results / f"{phase}.rc").read_text()), stderr.strip().splitlines()[-1]

    status, line = outcome("start")
    assert status == 3 and "the disk is full (No space left on device" in line and "free some space" in line, line
    status, line = outcome("mid")
    assert status == 3 and "is full" in line and "re-running the same command resumes" in line, line
    mid = results / "mid"
    metrics = (mid / "metrics.jsonl").read_text()
    assert all(json.loads(text) for text in metrics.splitlines())  # no cut-off record
    complete = [p.stem for p in mid.glob("*.json") if complete_metadata(mid, p.stem) is not None]
    assert 1 <= len(complete) < 8 and len(list(mid.glob("*.json"))) == len(complete)
    assert not set(read_lines(mid / "failures.jsonl")) & set(complete)  # what it hit is recorded, not complete
    # and leaves no trace of itself: no metric line, no media file
    failed = set(read_lines(mid / "failures.jsonl"))
    assert failed and not failed & set(read_lines(mid / "metrics.jsonl"))
    assert not [p.name for p in mid.glob("*.mp4") if p.stem in failed]
    status, line = outcome("rerun")
    assert status == 0 and line.startswith(f"samg-video: done: {8 - len(complete)} clips rendered"), line
    rerun = results / "rerun"
    assert len(read_lines(rerun / "metrics.jsonl")) == 8 and lines_of(rerun / "failures.jsonl") == []
    assert json.loads((rerun / "summary.json").read_text())["clips"] == 8
