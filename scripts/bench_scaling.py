"""Scaling and resume benchmark on the tiny offline model, through the real CLI.

1. Clips per minute with 1 rank (2 threads), 2 DDP ranks on the CPU (1 thread each, so that they do not
   fight over the cores) and 2 identical runs started together into one folder (1 thread each; they share
   the clips through claims). Start-up (imports, DDP start, model build) is measured by an immediate re-run
   that finds every clip complete, and taken out: clips/min = clips / (render run - re-run) * 60.
2. Resume cost: the wall time of re-running a fully complete folder of 100 clips, beyond start-up. Start-up
   here is the re-run of the same folder with a one-prompt list (same imports, config, folder), so the
   difference is the cost of checking 99 more clips (JSON, size, SHA-256, record files). The in-process
   time of the resume plan alone is printed too.

    python scripts/bench_scaling.py [--clips 64] [--resume-clips 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "tiny_samg.yaml"
LIGHTNING = Path(sys.executable).parent / "lightning"
CORES = 2


def cli(args: list[str], threads: int, copies: int = 1) -> float:
    """Wall seconds of ``copies`` identical ``lightning predict`` runs started together (until the last
    ends); fails loudly if a run fails."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    runs = [subprocess.Popen([str(LIGHTNING), "predict", "-c", str(CONFIG), *args], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(copies)]
    errors = [run.communicate()[1] for run in runs]
    elapsed = time.perf_counter() - start
    for run, error in zip(runs, errors):
        if run.returncode != 0:
            sys.exit(f"bench_scaling: run failed ({' '.join(args)}):\n{error[-2000:]}")
    return elapsed


def prompts_file(directory: Path, count: int, name: str) -> Path:
    path = directory / name
    path.write_text("".join(f"benchmark clip number {i}\n" for i in range(count)))
    return path


def throughput(work: Path, clips: int, ranks: int, repeats: int, copies: int = 1) -> dict[str, float]:
    """``ranks`` DDP ranks in one run, or ``copies`` identical single-rank runs into one folder."""
    prompts = prompts_file(work, clips, f"throughput_{clips}.txt")
    strategy = ["--trainer.devices", str(ranks)] + (["--trainer.strategy", "ddp"] if ranks > 1 else [])
    # identical runs wait for each other, so that the last to finish ends when every clip is complete
    together = ["--wait_for_others"] if copies > 1 else []
    threads = CORES // (ranks * copies)
    renders, restarts = [], []
    for repeat in range(repeats):
        out = work / f"ranks{ranks}_copies{copies}_{repeat}"
        args = ["--data.prompts", str(prompts), "--output_dir", str(out), "--trainer.accelerator", "cpu", *strategy,
                *together]
        renders.append(cli(args, threads=threads, copies=copies))
        restarts.append(cli(args, threads=threads, copies=copies))  # everything complete: start-up only
        shutil.rmtree(out)
    render, restart = statistics.median(renders), statistics.median(restarts)
    return {"render_s": render, "startup_s": restart, "clips_per_min": clips / (render - restart) * 60.0}


def resume_cost(work: Path, clips: int, repeats: int) -> dict[str, float]:
    from datamodules.prompts import PromptDataModule
    from samg_video.files.resume import plan_resume
    from samg_video.guidance import SAMG
    from samg_video.modules.video_generator import VideoGenerator

    many, one = prompts_file(work, clips, "resume_many.txt"), prompts_file(work, 1, "resume_one.txt")
    out = work / "resume"
    base = ["--output_dir", str(out), "--model.num_inference_steps", "2", "--data.batch_size", "4"]
    cli(base + ["--data.prompts", str(many)], threads=CORES)  # render the folder once
    full, single = [], []
    for _ in range(repeats):
        full.append(cli(base + ["--data.prompts", str(many)], threads=CORES))
        single.append(cli(base + ["--data.prompts", str(one)], threads=CORES))
    # the resume plan alone, in this process (the settings are the tiny config's)
    module = VideoGenerator(SAMG(w_min=4.0, w_max=9.6), source="tiny", height=32, width=64, num_frames=9, fps=8,
                            num_inference_steps=2)
    items = PromptDataModule(str(many)).items
    start = time.perf_counter()
    plan = plan_resume(out, items, module.clip_settings(), module.negative_prompt)
    planning = time.perf_counter() - start
    assert len(plan.complete) == clips, f"only {len(plan.complete)} of {clips} clips were complete"
    full_s, single_s = statistics.median(full), statistics.median(single)
    return {"full_s": full_s, "single_s": single_s, "cost_s": full_s - single_s, "plan_s": planning}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64, help="clips per throughput run")
    parser.add_argument("--resume-clips", type=int, default=100, help="clips in the complete folder")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (median reported)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="bench_scaling_") as directory:
        work = Path(directory)
        one = throughput(work, args.clips, 1, args.repeats)
        two = throughput(work, args.clips, 2, args.repeats)
        shared = throughput(work, args.clips, 1, args.repeats, copies=2)
        resume = resume_cost(work, args.resume_clips, args.repeats)
    print(f"tiny CogVideoX (32x64, 9 frames, 4 steps, batch 2), {args.clips} clips, CPU with {CORES} cores, "
          f"median of {args.repeats}\n")
    print("| ranks x threads | render run (s) | start-up (s) | clips/min | vs 1 rank |")
    print("|---|---|---|---|---|")
    for label, row in (("1 x 2", one), ("2 x 1 (DDP)", two), ("2 identical runs x 1, one folder", shared)):
        print(f"| {label} | {row['render_s']:.1f} | {row['startup_s']:.1f} | {row['clips_per_min']:.1f} | "
              f"{row['clips_per_min'] / one['clips_per_min']:.2f}x |")
    print("\n| resume of a complete folder | wall (s) |\n|---|---|")
    print(f"| {args.resume_clips} complete clips | {resume['full_s']:.2f} |")
    print(f"| 1 clip (start-up) | {resume['single_s']:.2f} |")
    print(f"| cost of {args.resume_clips} clips beyond start-up (target < 2 s) | {resume['cost_s']:.2f} |")
    print(f"| resume plan alone, in process | {resume['plan_s']:.3f} |")


if __name__ == "__main__":
    main()
