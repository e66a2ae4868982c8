"""Scaling and resume benchmark on the tiny offline model, through the real CLI.

1. Clips per minute and seconds per clip with 1 rank (2 threads), 2 DDP ranks on the CPU (1 thread each,
   so that they do not fight over the cores), 2 ranks in CFG-parallel (one guidance branch each, the
   predictions all-gathered over gloo) and 2 identical runs started together into one folder (1 thread
   each; they share the clips through claims). Start-up (imports, DDP start, model build) is measured by an immediate re-run
   that finds every clip complete, and taken out: clips/min = clips / (render run - re-run) * 60.
2. Resume cost: the wall time of re-running a fully complete folder of 100 clips, beyond start-up. Start-up
   here is the re-run of the same folder with a one-prompt list (same imports, config, folder), so the
   difference is the cost of checking 99 more clips (JSON, size, SHA-256, record files). The in-process
   time of the resume plan alone is printed too.
3. Denoiser work per clip, counted by a hook in this process (and in a pair of gloo processes for
   CFG-parallel): calls and batch rows (one row = one branch of one clip at one step) per clip on each
   rank, with and without cached guidance (the unconditional rows it saves).

On CPUs the figures show the overhead of the collectives, not the speed-up two GPUs give: there the two
ranks of a pair each run half of the denoiser's work in the same wall time.

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


def throughput(work: Path, clips: int, ranks: int, repeats: int, copies: int = 1,
               cfg_parallel: bool = False) -> dict[str, float]:
    """``ranks`` DDP ranks in one run (in CFG-parallel pairs if asked), or ``copies`` identical single-rank
    runs into one folder."""
    prompts = prompts_file(work, clips, f"throughput_{clips}.txt")
    strategy = ["--trainer.devices", str(ranks)] + (["--trainer.strategy", "ddp"] if ranks > 1 else [])
    strategy += ["--model.cfg_parallel", "2"] if cfg_parallel else []
    # identical runs wait for each other, so that the last to finish ends when every clip is complete
    together = ["--wait_for_others"] if copies > 1 else []
    threads = CORES // (ranks * copies)
    renders, restarts = [], []
    for repeat in range(repeats):
        out = work / f"ranks{ranks}_copies{copies}_cfg{int(cfg_parallel)}_{repeat}"
        args = ["--data.prompts", str(prompts), "--output_dir", str(out), "--trainer.accelerator", "cpu", *strategy,
                *together]
        renders.append(cli(args, threads=threads, copies=copies))
        restarts.append(cli(args, threads=threads, copies=copies))  # everything complete: start-up only
        shutil.rmtree(out)
    render, restart = statistics.median(renders), statistics.median(restarts)
    return {"render_s": render, "startup_s": restart, "clips_per_min": clips / (render - restart) * 60.0,
            "s_per_clip": (render - restart) / clips}


STEPS = 4  # the tiny config's
BATCH = 2


def _tiny_pipeline():
    from samg_video.families import get_family
    from samg_video.guidance import SAMG
    from samg_video.guided_pipelines import apply_guidance

    family = get_family("cogvideox")
    pipeline = family.with_scheduler(family.build_tiny(seed=0), "ddim")
    apply_guidance(pipeline, SAMG(w_min=4.0, w_max=9.6))
    return family, pipeline


def _render(family, pipeline) -> None:
    import torch

    size = family.tiny_size
    pipeline.set_progress_bar_config(disable=True)
    pipeline(prompt=["a cat", "a dog"], height=size["height"], width=size["width"],
             **family.size_arguments(size["num_frames"]), num_inference_steps=STEPS, **family.guidance_arguments(),
             generator=[torch.Generator().manual_seed(i) for i in range(BATCH)], output_type="latent",
             **family.call_arguments(pipeline))


def denoiser_work(cache_interval: int = 1) -> dict[str, float]:
    """Calls and rows per clip of one rank rendering a batch of two clips."""
    from samg_video.parallel.branches import enable_branch_hook

    family, pipeline = _tiny_pipeline()
    hook = enable_branch_hook(pipeline, cache_interval=cache_interval)
    _render(family, pipeline)
    return {"calls": hook.calls / BATCH, "rows": hook.rows_computed / BATCH}


def _pair_rank(rank: int, store: str, queue) -> None:
    import torch

    from samg_video.parallel.branches import enable_branch_hook

    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        family, pipeline = _tiny_pipeline()
        hook = enable_branch_hook(pipeline, pair=torch.distributed.new_group([0, 1]))
        _render(family, pipeline)
        queue.put({"calls": hook.calls / BATCH, "rows": hook.rows_computed / BATCH})
    finally:
        torch.distributed.destroy_process_group()


def pair_denoiser_work(work: Path) -> dict[str, float]:
    """Calls and rows per clip on each rank of a CFG-parallel pair (the two ranks do the same work)."""
    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_pair_rank, args=(rank, str(work / "pair_store"), queue)) for rank in range(2)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    if results[0] != results[1]:
        sys.exit(f"bench_scaling: the ranks of a pair did different work: {results}")
    return results[0]


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
        pair = throughput(work, args.clips, 2, args.repeats, cfg_parallel=True)
        shared = throughput(work, args.clips, 1, args.repeats, copies=2)
        resume = resume_cost(work, args.resume_clips, args.repeats)
        plain, pair_work = denoiser_work(), pair_denoiser_work(work)
        cached = {k: denoiser_work(k) for k in (2, 3)}
    print(f"tiny CogVideoX (32x64, 9 frames, 4 steps, batch 2), {args.clips} clips, CPU with {CORES} cores, "
          f"median of {args.repeats}\n")
    print("| ranks x threads | render run (s) | start-up (s) | clips/min | vs 1 rank | s per clip |")
    print("|---|---|---|---|---|---|")
    for label, row in (("1 x 2", one), ("2 x 1 (DDP)", two), ("2 x 1 (CFG-parallel pair)", pair),
                       ("2 identical runs x 1, one folder", shared)):
        print(f"| {label} | {row['render_s']:.1f} | {row['startup_s']:.1f} | {row['clips_per_min']:.1f} | "
              f"{row['clips_per_min'] / one['clips_per_min']:.2f}x | {row['s_per_clip']:.3f} |")
    print(f"\n| denoiser work per clip ({STEPS} steps, batch {BATCH}) | calls per clip, each rank | rows per clip, "
          "each rank | unconditional rows saved |")
    print("|---|---|---|---|")
    print(f"| 1 rank | {plain['calls']:.1f} | {plain['rows']:.1f} | - |")
    print(f"| 2 ranks DDP (each renders its own clips) | {plain['calls']:.1f} | {plain['rows']:.1f} | - |")
    print(f"| 2 ranks CFG-parallel (each renders every clip of the pair) | {pair_work['calls']:.1f} | "
          f"{pair_work['rows']:.1f} | - |")
    for k, row in cached.items():
        print(f"| 1 rank, guidance_cache_interval {k} | {row['calls']:.1f} | {row['rows']:.1f} | "
              f"{plain['rows'] - row['rows']:.1f} of {plain['rows'] / 2:.0f} |")
    print("\n| resume of a complete folder | wall (s) |\n|---|---|")
    print(f"| {args.resume_clips} complete clips | {resume['full_s']:.2f} |")
    print(f"| 1 clip (start-up) | {resume['single_s']:.2f} |")
    print(f"| cost of {args.resume_clips} clips beyond start-up (target < 2 s) | {resume['cost_s']:.2f} |")
    print(f"| resume plan alone, in process | {resume['plan_s']:.3f} |")


if __name__ == "__main__":
    main()
