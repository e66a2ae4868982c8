"""One picture of the same clips across runs: a row per clip (matched by prompt and seed), a column per
run, each cell a strip of frames, enlarged without smoothing so that small clips can be judged by eye.

    python scripts/contact_sheet.py RUN_DIR [RUN_DIR ...] --out sheet.png [--clips 6] [--frames 3] [--zoom 4]

The clips are the first ``--clips`` of the first run's ``metrics.jsonl`` (or its clip JSONs) that every
run has; each cell shows ``--frames`` evenly spaced frames of the mp4. Titles are the folder names and
the prompts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from samg_video.cli.script_args import ScriptParser, output_file_problem, whole_number


def clip_index(run: Path) -> dict[tuple[str, int], Path]:
    """``(prompt, seed) -> mp4`` of a run's complete video clips (JSON matching the mp4), in the order of their ids."""
    from samg_video.files.resume import complete_metadata

    index = {}
    for metadata_path in sorted(run.glob("*.json")):
        if metadata_path.name.startswith("."):
            continue
        record = complete_metadata(run, metadata_path.stem)
        if record and "video" in record and isinstance(record.get("prompt"), str) and isinstance(record.get("seed"), int):
            index[(record["prompt"], record["seed"])] = run / record["video"]["file"]
    return index


def main(argv: list[str] | None = None) -> int:
    parser = ScriptParser(prog="contact_sheet", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the picture, a .png file")
    parser.add_argument("--clips", type=whole_number(1), default=6)
    parser.add_argument("--frames", type=whole_number(1), default=3)
    parser.add_argument("--zoom", type=whole_number(1, 32), default=4)
    parser.add_argument("--truth", action="store_true",
                        help="add a first column with what each prompt of the synthetic world describes, drawn "
                             "by the world itself (object centred at mid-clip: the prompt does not say where)")
    args = parser.parse_args(argv)
    missing = [str(run) for run in args.runs if not run.is_dir()]
    if missing:
        parser.error(f"not a folder: {', '.join(missing)}")
    if len({run.resolve() for run in args.runs}) != len(args.runs):
        parser.error(f"a run is given twice ({', '.join(map(str, args.runs))}); give each run once")
    problem = output_file_problem(args.out, "--out", ".png", args.runs)
    if problem:
        parser.error(problem)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from samg_video.files.media import atomic_path, pick_frames, read_video

    indexes = [clip_index(run) for run in args.runs]
    keys = [key for key in indexes[0] if all(key in index for index in indexes[1:])][: args.clips]
    if not keys:
        print("contact_sheet: error: no clip (prompt and seed) is in every run", file=sys.stderr)
        return 2
    columns = [("truth", None)] * args.truth + [(run.name, index) for run, index in zip(args.runs, indexes)]
    figure, axes = plt.subplots(len(keys), len(columns), squeeze=False,
                                figsize=(1.1 * args.frames * len(columns) + 0.4, 1.35 * len(keys) + 0.5))
    for row, key in enumerate(keys):
        first = read_video(indexes[0][key])  # the first run's clip, also the shape of the truth's
        for column, (name, index) in enumerate(columns):
            if index is None:
                frames = world_clip(key[0], frames_like=first)
            else:
                frames = first if index is indexes[0] else read_video(index[key])
            strip = np.concatenate(list(frames[pick_frames(len(frames), args.frames)]), axis=1)
            axis = axes[row, column]
            axis.imshow(np.kron(strip, np.ones((args.zoom, args.zoom, 1), np.uint8)), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(name, fontsize=9)
        axes[row, 0].set_ylabel(f"{key[0][:48]}\nseed {key[1]}", fontsize=6.5, rotation=0, ha="right", va="center")
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as temporary:  # whole or not at all
        figure.savefig(temporary, dpi=110, format="png")
    print(f"contact_sheet: {len(keys)} clips x {len(args.runs)} runs -> {args.out}")
    return 0


def world_clip(prompt: str, frames_like: np.ndarray) -> np.ndarray:
    """The synthetic world's own clip of ``prompt``, its objects placed as the world places them (a fixed
    draw: the prompt does not say where they are); grey if the prompt is not of the world."""
    from samg_video.world.scenes import parse_prompt, placed, render

    scene = parse_prompt(prompt)
    count, height, width = frames_like.shape[:3]
    if scene is None or height != width:
        return np.full_like(frames_like, 128)
    return render(placed(scene, np.random.default_rng(0), size=width, frames=count), size=width, frames=count)


if __name__ == "__main__":
    sys.exit(main())
