"""Lay out a run's clips as VBench expects, to score them with the full VBench suite.

    python scripts/export_vbench.py runs/samg runs/samg_vbench
    # then, where VBench is installed:
    vbench evaluate --videos_path runs/samg_vbench --mode custom_input --dimension subject_consistency

VBench reads the prompt from the file name: ``<prompt>-<index>.mp4``, the index counting the clips of one
prompt from 0 (VBench samples five per prompt; its custom-input mode takes the prompt from the name
before ``-<index>``). Clips of one prompt are numbered in seed order. Files are hard-linked where the
file system allows, copied otherwise; the run folder is not changed. A prompt that cannot be a file
name (a ``/``, a NUL, or longer than 240 bytes) is skipped and listed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections import defaultdict
from pathlib import Path

MAX_NAME_BYTES = 240  # file systems allow 255, less the "-<index>.mp4" suffix


def clips_of(run: Path) -> list[dict]:
    """The complete video clips of a run folder, from their JSON."""
    clips = []
    for sidecar in sorted(run.glob("*.json")):
        try:
            metadata = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        video = metadata.get("video") if isinstance(metadata, dict) else None
        if not isinstance(video, dict) or "prompt" not in metadata or not (run / video.get("file", "")).is_file():
            continue  # the run's own files (summary.json), images, or an unfinished clip
        clips.append({"id": metadata["id"], "prompt": metadata["prompt"], "seed": metadata.get("seed", 0),
                      "file": run / video["file"]})
    return clips


def unusable_reason(prompt: str) -> str | None:
    if "/" in prompt or "\0" in prompt:
        return "the prompt holds '/' or NUL, which a file name cannot"
    if len(prompt.encode("utf-8")) > MAX_NAME_BYTES:
        return f"the prompt is longer than {MAX_NAME_BYTES} bytes, too long for a file name"
    if not prompt.strip() or prompt in (".", ".."):
        return "the prompt is not a usable file name"
    return None


def export(run: Path, out: Path) -> tuple[list[Path], list[dict]]:
    by_prompt: dict[str, list[dict]] = defaultdict(list)
    skipped = []
    for clip in clips_of(run):
        reason = unusable_reason(clip["prompt"])
        if reason:
            skipped.append({"id": clip["id"], "reason": reason})
        else:
            by_prompt[clip["prompt"]].append(clip)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for prompt, clips in by_prompt.items():
        for index, clip in enumerate(sorted(clips, key=lambda c: (c["seed"], c["id"]))):
            target = out / f"{prompt}-{index}.mp4"
            if target.exists():
                target.unlink()
            try:
                os.link(clip["file"], target)
            except OSError:  # another file system, or links not allowed
                shutil.copy2(clip["file"], target)
            written.append(target)
    return written, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run's output folder (clips with this package's JSON)")
    parser.add_argument("out", type=Path, help="the folder to give VBench as --videos_path")
    args = parser.parse_args(argv)
    if not args.run.is_dir():
        print(f"export_vbench: error: {args.run} is not a folder", file=sys.stderr)
        return 2
    if args.out.resolve() == args.run.resolve():
        print("export_vbench: error: write the export into another folder than the run's", file=sys.stderr)
        return 2
    written, skipped = export(args.run, args.out)
    if not written and not skipped:
        print(f"export_vbench: error: {args.run} holds no complete video clips", file=sys.stderr)
        return 2
    for entry in skipped:
        print(f"export_vbench: skipped {entry['id']}: {entry['reason']}", file=sys.stderr)
    print(f"export_vbench: {len(written)} clips in {args.out}" + (f"; {len(skipped)} skipped" if skipped else ""))
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
