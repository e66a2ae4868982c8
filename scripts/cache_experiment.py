"""What cached guidance costs on the toy world: one command.

    python scripts/cache_experiment.py [--output_dir outputs/cache_experiment] [--prompts 64] [--videos_per_prompt 2]

Renders the toy experiment's prompts (``scripts/toy_experiment.py``: the same fixed set, the same seeds)
under CFG 6 and SAMG [4.5, 10], each without the cache and with ``guidance_cache_interval`` 2 and 3
(the unconditional branch every second or third step, the last delta reused between), through the CLI
into one folder per run, resumable. Then one report per method (``scripts/compare_runs.py``, the
uncached run first): adherence and every artifact metric of each cached run, paired by prompt and seed
with the uncached one, with 95 % intervals, in ``OUTPUT_DIR/report_cfg/report.md`` and
``OUTPUT_DIR/report_samg/report.md``.

Arguments it does not know go to every render (``--model.num_inference_steps 10``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
CONFIG = SCRIPTS.parent / "configs" / "toy_samg.yaml"
METHODS = {"cfg": ("samg_video.guidance.CFG", {"scale": "6"}, "cfg_6"),
           "samg": ("samg_video.guidance.SAMG", {"w_min": "4.5", "w_max": "10"}, "samg_4.5_10")}
INTERVALS = (1, 2, 3)
ALIGNMENT = "world_adherence"
ARTIFACTS = ("palette_overshoot", "clipped_fraction", "texture_fidelity_fine", "texture_fidelity_coarse",
             "warping_error", "flicker")


def render(folder: Path, prompts: Path, guidance: str, arguments: dict[str, str], interval: int,
           videos_per_prompt: int, extra: list[str]) -> None:
    command = [sys.executable, "-m", "samg_video", "predict", "-c", str(CONFIG), "--data.prompts", str(prompts),
               "--data.videos_per_prompt", str(videos_per_prompt), "--data.batch_size", "16",
               "--output_dir", str(folder), "--model.guidance", guidance,
               *[f"--model.guidance.init_args.{name}={value}" for name, value in arguments.items()],
               "--model.guidance_cache_interval", str(interval), *extra]
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise SystemExit(f"cache_experiment: error: the render into {folder} failed (status {result.returncode})")


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(SCRIPTS))
    from toy_experiment import experiment_prompts

    from samg_video.cli.script_args import (
        ScriptParser,
        output_folder_problem,
        whole_number,
    )
    from samg_video.world.scenes import DISTINCT_PROMPTS

    parser = ScriptParser(prog="cache_experiment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", type=Path, default=Path("outputs/cache_experiment"))
    parser.add_argument("--prompts", type=whole_number(1, DISTINCT_PROMPTS), default=64,
                        help=f"distinct prompts, from 1 to the world's {DISTINCT_PROMPTS}")
    parser.add_argument("--videos_per_prompt", type=whole_number(1), default=2, help="seeds per prompt (at least 1)")
    args, extra = parser.parse_known_args(argv)
    problem = output_folder_problem(args.output_dir, "--output_dir")
    if problem:
        parser.refuse(problem)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    prompts = args.output_dir / "prompts.txt"
    prompts.write_text("\n".join(experiment_prompts(args.prompts)) + "\n")
    runs = len(METHODS) * len(INTERVALS)
    print(f"cache_experiment: {args.prompts} prompts x {args.videos_per_prompt} seeds x {runs} runs into "
          f"{args.output_dir}", file=sys.stderr, flush=True)
    for method, (guidance, arguments, name) in METHODS.items():
        folders = []
        for interval in INTERVALS:
            folder = args.output_dir / (name if interval == 1 else f"{name}_cache{interval}")
            render(folder, prompts, guidance, arguments, interval, args.videos_per_prompt, extra)
            folders.append(folder)
        report = args.output_dir / f"report_{method}"
        command = [sys.executable, str(SCRIPTS / "compare_runs.py"), *map(str, folders), "--out", str(report),
                   "--alignment", ALIGNMENT, "--artifacts", *ARTIFACTS]
        if subprocess.run(command, check=False).returncode != 0:
            raise SystemExit(f"cache_experiment: error: the report {report} failed")
    print(f"cache_experiment: done; reports in {args.output_dir / 'report_cfg'} and {args.output_dir / 'report_samg'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit as stop:
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
            sys.exit(1)
        raise
