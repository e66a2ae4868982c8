"""scripts/export_vbench.py: a run's clips named as VBench's custom-input mode reads them."""

import hashlib
import json
import subprocess
import sys

import pytest

from cli_runs import ROOT, load_script

EXPORT = ROOT / "scripts" / "export_vbench.py"


def fake_clip(run, clip_id, prompt, seed):
    """A complete clip as the writer leaves it: its JSON records the mp4's size and SHA-256."""
    data = f"video of {clip_id}".encode()
    (run / f"{clip_id}.mp4").write_bytes(data)
    (run / f"{clip_id}.json").write_text(json.dumps({
        "id": clip_id, "prompt": prompt, "seed": seed,
        "video": {"file": f"{clip_id}.mp4", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}}))


def test_clips_are_named_prompt_dash_index_in_seed_order(tmp_path):
    run, out = tmp_path / "run", tmp_path / "vbench"
    run.mkdir()
    fake_clip(run, "cat-b", "A cat, in the rain.", 9)
    fake_clip(run, "cat-a", "A cat, in the rain.", 3)
    fake_clip(run, "dog", "a dog", 1)
    fake_clip(run, "slash", "either/or", 1)
    (run / "summary.json").write_text(json.dumps({"clips": 4}))  # the run's own files are not clips
    result = subprocess.run([sys.executable, str(EXPORT), str(run), str(out)], capture_output=True, text=True)
    assert result.returncode == 1  # one clip skipped, and said so
    assert "skipped slash: the prompt holds '/'" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["A cat, in the rain.-0.mp4", "A cat, in the rain.-1.mp4",
                                                      "a dog-0.mp4"]
    assert (out / "A cat, in the rain.-0.mp4").read_bytes() == b"video of cat-a"  # seed 3 before seed 9
    assert sorted(p.name for p in run.iterdir()) == sorted(["cat-a.json", "cat-a.mp4", "cat-b.json", "cat-b.mp4",
                                                            "dog.json", "dog.mp4", "slash.json", "slash.mp4",
                                                            "summary.json"])  # the run is untouched


def test_only_complete_clips_with_safe_names_are_exported(tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "vbench"
    run.mkdir()
    fake_clip(run, "good", "a good clip", 1)
    fake_clip(run, "changed", "a changed clip", 1)
    (run / "changed.mp4").write_bytes(b"another video of the same size!")  # no longer what its JSON says
    fake_clip(run, "hidden", ".hidden", 1)
    fake_clip(run, "lines", "two\r\nlines", 1)
    fake_clip(run, "dash", "-rf", 1)
    assert load_script("export_vbench").main([str(run), str(out)]) == 1
    err = capsys.readouterr().err
    assert "skipped changed: its JSON does not match its media file" in err
    assert "skipped hidden: the prompt starts with '.'" in err and "skipped dash: the prompt starts with" in err
    assert "skipped lines: the prompt holds a line break" in err
    assert [p.name for p in out.iterdir()] == ["a good clip-0.mp4"]


@pytest.mark.parametrize("case", ["out is a file", "out inside the run", "nothing complete", "no run"])
def test_bad_arguments_are_refused_in_one_line_and_nothing_is_left(tmp_path, capsys, case):
    run, out = tmp_path / "run", tmp_path / "vbench"
    run.mkdir()
    fake_clip(run, "clip", "a clip", 1)
    expected = {"out is a file": "the export folder {out} is a file, not a folder",
                "out inside the run": "is inside the input {run}",
                "nothing complete": "{run} holds no complete video clip that can be exported (1 skipped, listed above)",
                "no run": "{run}x: no such folder"}[case]
    if case == "out is a file":
        out.write_text("a file")
    elif case == "out inside the run":
        out = run / "vbench"
    elif case == "nothing complete":
        (run / "clip.mp4").write_bytes(b"corrupt")
    code = None
    try:
        code = load_script("export_vbench").main([str(run) + ("x" if case == "no run" else ""), str(out)])
    except SystemExit as exit_:
        code = exit_.code
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and lines[-1].startswith("export_vbench: error: ") and "Traceback" not in "".join(lines)
    assert expected.format(out=out, run=run) in lines[-1]
    assert out.is_file() if case == "out is a file" else not out.exists()  # no half-made export
