"""What users feed in: hostile prompts become safe, distinct file names inside --output_dir; weights load only
as safetensors, never with remote code."""

import json
import re

import pytest
from cli_runs import FAST, TINY_CONFIG, lines_of, run_here

from samg_video.errors import ConfigurationError
from samg_video.families import get_family
from samg_video.families.base import Source, load_pretrained
from samg_video.files.claims import CLAIMS_FOLDER

HOSTILE_PROMPTS = [
    "../../x", "../../../etc/passwd", "/etc/passwd", "/tmp/escape", "a" * 10_000, "bell\x07 and\ttab",
    "esc\x1b[31m red", "nul\x00byte", "right\u202eto-left\u200f marks", "!!!???...", "..", "C:\\Windows\\x",
]
HOSTILE_IDS = ["../../x", "/abs", "a/b", "..", "nul\x00id", "x" * 300]


def test_hostile_prompts_and_ids_stay_inside_the_output_dir_and_stay_distinct(workdir, tmp_path):
    prompts = tmp_path / "hostile.jsonl"
    rows = [{"prompt": p} for p in HOSTILE_PROMPTS] + \
           [{"prompt": f"explicit {i}", "id": clip_id} for i, clip_id in enumerate(HOSTILE_IDS)]
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "out"
    result = run_here(["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", prompts,
                       "--data.batch_size", "6", *FAST], cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    everything = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    outside = [p for p in everything if p.parts[0] not in ("out", "cwd") and p.name != "hostile.jsonl"]
    assert outside == [] and list(workdir.iterdir()) == []
    # no sub-folders either, but the runs' own claims folder (see test_shared_folder)
    assert all(p.parent in (out, out / CLAIMS_FOLDER) for p in out.rglob("*"))
    assert [p.name for p in out.iterdir() if p.is_dir()] == [CLAIMS_FOLDER]
    clips = {json.loads(p.read_text())["prompt"]: p.stem for p in out.glob("*.json") if p.stem != "summary"}
    assert sorted(clips) == sorted(row["prompt"] for row in rows)  # every prompt, kept verbatim in its JSON
    assert len(set(clips.values())) == len(rows)
    for clip_id in clips.values():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", clip_id) and len(clip_id) <= 57
        assert (out / f"{clip_id}.mp4").is_file()
    assert sorted(line["id"] for line in lines_of(out / "metrics.jsonl")) == sorted(clips.values())


def test_pipelines_load_safetensors_only_and_never_remote_code(tmp_path, monkeypatch):
    calls = []

    class Recorder:
        @classmethod
        def from_pretrained(cls, location, **kwargs):
            calls.append(kwargs)
            return "pipeline"

    assert load_pretrained(Recorder, Source("local", str(tmp_path)), "cogvideox", torch_dtype=None) == "pipeline"
    assert calls[0]["use_safetensors"] is True and not calls[0].get("trust_remote_code")
    for family in ("cogvideox", "modelscope"):  # every family goes through load_pretrained
        import inspect

        source = inspect.getsource(type(get_family(family)).load)
        assert "load_pretrained(" in source and "trust_remote_code" not in source


def test_a_local_pipeline_with_only_pickle_weights_is_refused(tmp_path):
    from samg_video.families.base import resolve_source

    (tmp_path / "model_index.json").write_text("{}")
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text("{}")
    (tmp_path / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ConfigurationError, match="holds weights only as pickle files"):
        resolve_source(str(tmp_path), "modelscope")
