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
    import toy_experiment

    args, extra, prompts = toy_experiment.prepare_run("cache_experiment", __doc__.split("\n\n")[0],
                                       Path("outputs/cache_experiment"), argv)
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
                   "--alignment", toy_experiment.ALIGNMENT, "--artifacts", *toy_experiment.ARTIFACTS]
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
