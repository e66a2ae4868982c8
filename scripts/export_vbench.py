"""Lay out a run's clips as VBench expects, to score them with the full VBench suite.

    python scripts/export_vbench.py runs/samg runs/samg_vbench
    # then, where VBench is installed:
    vbench evaluate --videos_path runs/samg_vbench --mode custom_input --dimension subject_consistency

VBench reads the prompt from the file name: ``<prompt>-<index>.mp4``, the index counting the clips of one
prompt from 0 (VBench samples five per prompt; its custom-input mode takes the prompt from the name
before ``-<index>``). Clips of one prompt are numbered in seed order. Files are hard-linked where the
file system allows, copied otherwise; the run folder is not changed. Only complete clips are exported (their
JSON matches their mp4: size and SHA-256, as a re-run decides). A prompt that cannot be a safe file name (a
``/``, a control character such as a line break, a leading dot, or longer than 240 bytes) is skipped and
listed.
"""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

from samg_video.cli.script_args import ScriptParser, output_folder_problem, say_error
from samg_video.files.resume import complete_metadata
from samg_video.files.run_files import SUMMARY_JSON

MAX_NAME_BYTES = 240  # file systems allow 255, less the "-<index>.mp4" suffix


def clips_of(run: Path) -> tuple[list[dict], list[dict]]:
    """The complete video clips of a run folder, from their JSON; and the clips whose JSON does not match its
    media file (unfinished, or changed since)."""
    clips, incomplete = [], []
    for sidecar in sorted(run.glob("*.json")):
        if sidecar.name.startswith(".") or sidecar.name == SUMMARY_JSON:  # temporaries, the run's own file
            continue
        metadata = complete_metadata(run, sidecar.stem)
        if metadata is None:
            incomplete.append({"id": sidecar.stem, "reason": "its JSON does not match its media file (size and "
                                                             "SHA-256): unfinished or changed since"})
            continue
        if "video" not in metadata or not isinstance(metadata.get("prompt"), str):
            continue  # an image, or not a clip
        seed = metadata.get("seed")
        clips.append({"id": metadata["id"], "prompt": metadata["prompt"],
                      "seed": seed if isinstance(seed, int) else 0, "file": run / metadata["video"]["file"]})
    return clips, incomplete


def unusable_reason(prompt: str) -> str | None:
    if "/" in prompt or "\0" in prompt:
        return "the prompt holds '/' or NUL, which a file name cannot"
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in prompt):
        return "the prompt holds a line break or another control character, unsafe in a file name"
    if prompt.startswith(("-", ".")):
        return "the prompt starts with '.' or '-' (a hidden file, or one taken for an option)"
    if len(prompt.encode("utf-8")) > MAX_NAME_BYTES:
        return f"the prompt is longer than {MAX_NAME_BYTES} bytes, too long for a file name"
    if not prompt.strip() or prompt in (".", ".."):
        return "the prompt is not a usable file name"
    return None


def export(run: Path, out: Path) -> tuple[list[Path], list[dict]]:
    by_prompt: dict[str, list[dict]] = defaultdict(list)
    clips, skipped = clips_of(run)
    for clip in clips:
        reason = unusable_reason(clip["prompt"])
        if reason:
            skipped.append({"id": clip["id"], "reason": reason})
        else:
            by_prompt[clip["prompt"]].append(clip)
    if not by_prompt:  # nothing to write: no folder is made
        return [], skipped
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
    parser = ScriptParser(prog="export_vbench", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run's output folder (clips with this package's JSON)")
    parser.add_argument("out", type=Path, help="the folder to give VBench as --videos_path")
    args = parser.parse_args(argv)
    if not args.run.is_dir():
        parser.refuse(f"{args.run} is not a folder" if args.run.exists() else f"{args.run}: no such folder")
    problem = output_folder_problem(args.out, "the export folder", [args.run])
    if problem:
        parser.refuse(problem)
    written, skipped = export(args.run, args.out)
    for entry in skipped:
        print(f"export_vbench: skipped {entry['id']}: {entry['reason']}", file=sys.stderr)
    if not written:
        return say_error("export_vbench", f"{args.run} holds no complete video clip that can be exported"
                         + (f" ({len(skipped)} skipped, listed above)" if skipped else "") + "; nothing written")
    print(f"export_vbench: {len(written)} clips in {args.out}" + (f"; {len(skipped)} skipped" if skipped else ""))
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
