"""Any number of identical runs into one folder share the work through per-clip claims, exactly once."""

import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest
from cli_runs import BIN, FAST, TINY_CONFIG, cli_env

from samg_video.files.claims import CLAIMS_FOLDER, ClaimBook, ClaimState
from samg_video.files.resume import complete_metadata

PROMPTS = "[" + ", ".join(f"clip number {i}" for i in range(12)) + "]"


def start(args, cwd):
    return subprocess.Popen([str(BIN / "lightning"), *map(str, args)], cwd=cwd, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def rendered(stderr):
    """The number of clips a run says it rendered itself (its last line); a run that started after the others
    had finished every clip renders none."""
    line = stderr.strip().splitlines()[-1]
    if "done: nothing to render" in line:
        return 0
    return int(re.search(r"done: (\d+) clips rendered", line).group(1))


def assert_exactly_once(out, clips=12):
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == clips and len({json.loads(line)["id"] for line in lines}) == clips  # one line per clip
    assert sum(complete_metadata(out, p.stem) is not None for p in out.glob("*.json")
               if not p.name.startswith(("summary", "run_config"))) == clips
    assert json.loads((out / "summary.json").read_text())["clips"] == clips  # the summary written last
    assert list((out / CLAIMS_FOLDER).glob("*.json")) == []  # every claim released


@pytest.mark.slow
def test_three_identical_runs_started_together_render_each_clip_once(workdir, tmp_path):
    out = tmp_path / "out"
    args = ["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", PROMPTS, "--data.batch_size", "1",
            "--wait_for_others", *FAST]
    runs = [start(args, workdir) for _ in range(3)]
    outcomes = [(process.wait(timeout=300), process.stderr.read()) for process in runs]
    assert all(status == 0 for status, _ in outcomes), [stderr[-2000:] for _, stderr in outcomes]
    assert sum(rendered(stderr) for _, stderr in outcomes) == 12  # each clip rendered by exactly one run
    assert_exactly_once(out)


@pytest.mark.slow
def test_a_run_killed_mid_clip_leaves_its_clip_to_the_others(workdir, tmp_path):
    out = tmp_path / "out"
    prompts = "[" + ", ".join(f"clip number {i}" for i in range(6)) + "]"
    args = ["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", prompts, "--data.batch_size", "1",
            "--model.class_path", "faults.SlowGenerator", "--wait_for_others", *FAST]
    # the doomed run starts alone: started with the others, it could find every clip taken before it claims
    # one, and the test would wait for nothing and check nothing
    doomed = start(args, workdir)
    claims = out / CLAIMS_FOLDER
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and doomed.poll() is None and not any(
            json.loads(p.read_text() or "{}").get("pid") == doomed.pid for p in claims.glob("*.json")):
        time.sleep(0.02)
    assert doomed.poll() is None, f"the run to kill ended before it claimed a clip: {doomed.stderr.read()[-2000:]}"
    doomed.send_signal(signal.SIGKILL)  # mid-clip: its claim stays behind, its process is gone
    doomed.wait(timeout=60)
    assert list(claims.glob("*.json")), "the killed run left no claim behind"
    others = [start(args, workdir) for _ in range(2)]
    outcomes = [(process.wait(timeout=300), process.stderr.read()) for process in others]
    assert all(status == 0 for status, _ in outcomes), [stderr[-2000:] for _, stderr in outcomes]
    assert_exactly_once(out, clips=6)


def test_a_claim_is_stale_when_its_process_is_gone_or_its_heartbeat_is_old(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    mine, theirs = ClaimBook(tmp_path, timeout=60), ClaimBook(tmp_path, timeout=60)
    assert mine.claim("a") and not theirs.claim("a")
    assert theirs.state("a") is ClaimState.HELD
    claim = tmp_path / CLAIMS_FOLDER / "a.json"
    record = json.loads(claim.read_text())
    claim.write_text(json.dumps({**record, "pid": dead.pid}))  # its process has ended
    assert theirs.state("a") is ClaimState.STALE and theirs.claim("a") and theirs.taken_over == ["a"]
    claim.write_text(json.dumps({**json.loads(claim.read_text()), "host": "another-host"}))  # alive elsewhere...
    assert mine.state("a") is ClaimState.HELD
    old = time.time() - 61
    os.utime(claim, (old, old))  # ...until its heartbeat is older than the timeout
    assert mine.state("a") is ClaimState.STALE
    (tmp_path / "b.json").write_text("{}")  # a JSON that describes no media: not complete, free to claim
    assert mine.state("b") is ClaimState.FREE
    data = b"a clip"
    (tmp_path / "b.mp4").write_bytes(data)
    (tmp_path / "b.json").write_text(json.dumps({"video": {"file": "b.mp4", "bytes": len(data),
                                                           "sha256": hashlib.sha256(data).hexdigest()}}))
    assert mine.state("b") is ClaimState.COMPLETE and not mine.claim("b")
    mine.release_all()
    theirs.release_all()
