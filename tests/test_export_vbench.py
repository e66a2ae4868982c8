"""scripts/export_vbench.py: a run's clips named as VBench's custom-input mode reads them."""

import json
import subprocess
import sys

from cli_runs import ROOT

EXPORT = ROOT / "scripts" / "export_vbench.py"


def fake_clip(run, clip_id, prompt, seed):
    (run / f"{clip_id}.mp4").write_bytes(f"video of {clip_id}".encode())
    (run / f"{clip_id}.json").write_text(json.dumps({"id": clip_id, "prompt": prompt, "seed": seed,
                                                     "video": {"file": f"{clip_id}.mp4"}}))


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
