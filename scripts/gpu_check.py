"""Check CFG-parallel, context parallelism and cached guidance on the GPUs of this machine, against one GPU.

    python scripts/gpu_check.py [--family ltx] [--source tiny] [--steps 20] [--height H --width W --frames F]

Starts one process per GPU (NCCL). Rank 0 alone renders the reference (SAMG with temporal smoothing);
then, with two GPUs or more, ranks 0 and 1 render it as a CFG-parallel pair, and all GPUs render it with
the transformer split by sequence (context parallelism, LTX-Video and Wan). Each result is compared with
the reference (largest difference relative to the reference's largest value) and timed (the median of
``--repeats`` calls after one warm-up), and the speed-up over one GPU is printed. Cached guidance (every
second step's unconditional branch skipped) is timed on rank 0 too. ``--source tiny`` (default) builds
the family's small test model from its config: it shows that the outputs agree; a real model
(``--source Lightricks/LTX-Video`` or a local directory) shows the speed-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-3  # relative to the largest value: bf16/tf32 kernels sum a split batch or sequence in another order


def build(args):
    import torch

    from samg_video.families import get_family, resolve_source
    from samg_video.guidance import SAMG
    from samg_video.guided_pipelines import apply_guidance

    family = get_family(args.family)
    scheduler = family.schedulers[0]
    if args.source == "tiny":
        pipeline = family.with_scheduler(family.build_tiny(seed=0), scheduler)
        size = dict(family.tiny_size)
    else:
        pipeline = family.load(resolve_source(args.source, args.family), torch.bfloat16, scheduler, None)
        size = dict(family.default_size)
    size.update({key: value for key, value in (("height", args.height), ("width", args.width),
                                               ("num_frames", args.frames)) if value})
    apply_guidance(pipeline, SAMG(w_min=4.0, w_max=9.6, temporal_sigma=1.0))
    pipeline.set_progress_bar_config(disable=True)
    return family, pipeline.to("cuda"), size


def render(family, pipeline, size, steps):
    import torch

    output = pipeline(prompt=["a red circle moving right over blue stripes"], height=size["height"],
                      width=size["width"], **family.size_arguments(size["num_frames"]), num_inference_steps=steps,
                      **family.guidance_arguments(), generator=[torch.Generator("cpu").manual_seed(0)],
                      output_type="latent", **family.call_arguments(pipeline))
    latents = output.frames if hasattr(output, "frames") else output.images
    torch.cuda.synchronize()
    return latents.float().cpu()


def timed(call, repeats):
    import torch

    result = call()  # warm-up (kernels chosen, memory allocated)
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def worker(rank: int, world: int, args, store: str, queue) -> None:
    import torch
    import torch.distributed as dist

    from samg_video.parallel.branches import disable_branch_hook, enable_branch_hook
    from samg_video.parallel.context import (
        CONTEXT_PARALLEL_FAMILIES,
        enable_context_parallel,
    )

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"file://{store}", rank=rank, world_size=world,
                            device_id=torch.device("cuda", rank))
    try:
        family, pipeline, size = build(args)
        rows = []

        def run(): return render(family, pipeline, size, args.steps)

        reference = one_s = None
        if rank == 0:
            reference, one_s = timed(run, args.repeats)
            rows.append(("1 GPU, SAMG", 0.0, one_s))
            hook = enable_branch_hook(pipeline, cache_interval=2)
            cached, cached_s = timed(run, args.repeats)
            disable_branch_hook(pipeline)
            rows.append(("1 GPU, SAMG, guidance_cache_interval 2 (differs by design)",
                         float((cached - reference).abs().max() / reference.abs().max()), cached_s))
            del hook
        dist.barrier()
        pair = dist.new_group([0, 1]) if world >= 2 else None
        if pair is not None and rank < 2:
            enable_branch_hook(pipeline, pair=pair)
            paired, paired_s = timed(run, args.repeats)
            disable_branch_hook(pipeline)
            if rank == 0:
                rows.append(("2 GPUs, CFG-parallel pair", float((paired - reference).abs().max()
                                                                 / reference.abs().max()), paired_s))
        dist.barrier()
        if world >= 2 and args.family in CONTEXT_PARALLEL_FAMILIES:
            enable_context_parallel(pipeline, world)
            split, split_s = timed(run, args.repeats)
            if rank == 0:
                rows.append((f"{world} GPUs, context parallel (Ulysses {world})",
                             float((split - reference).abs().max() / reference.abs().max()), split_s))
        if rank == 0:
            queue.put(rows)
    finally:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="ltx", help="ltx (default), wan (context parallelism), cogvideox, "
                                                         "modelscope (CFG-parallel only)")
    parser.add_argument("--source", default="tiny", help="tiny (default), a hub id or a local pipeline directory")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--frames", type=int)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch
    import torch.multiprocessing as mp

    from samg_video.families import FAMILIES

    if args.family not in FAMILIES:
        parser.error(f"--family {args.family!r} is not known; choose one of {', '.join(FAMILIES)}")
    world = torch.cuda.device_count()
    if world == 0:
        print("gpu_check: error: no CUDA GPU here; this check runs only on GPUs", file=sys.stderr)
        return 2
    context = mp.get_context("spawn")
    queue = context.Queue()
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as directory:
        processes = [context.Process(target=worker, args=(rank, world, args, str(Path(directory) / "store"), queue))
                     for rank in range(world)]
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        if any(process.exitcode != 0 for process in processes):
            print(f"gpu_check: error: a rank failed (exit codes {[p.exitcode for p in processes]})", file=sys.stderr)
            return 1
        rows = queue.get(timeout=10)
    name = torch.cuda.get_device_name(0)
    print(f"{args.family} ({args.source}), {args.steps} steps, {world} x {name}, median of {args.repeats}\n")
    print("| setting | largest difference / largest value | s per clip | speed-up over 1 GPU |")
    print("|---|---|---|---|")
    one_s = rows[0][2]
    failed = False
    for label, difference, seconds in rows:
        agrees = "differs by design" in label or difference <= TOLERANCE
        failed |= not agrees
        print(f"| {label} | {difference:.2e}{'' if agrees else ' (over ' + format(TOLERANCE, 'g') + ')'} | "
              f"{seconds:.3f} | {one_s / seconds:.2f}x |")
    if world < 2:
        print("\ngpu_check: CFG-parallel and context parallelism need two GPUs or more: not checked on this "
              "machine (only the one-GPU reference and cached guidance ran)")
        return 0
    print(f"\ngpu_check: {'every parallel output agrees with one GPU' if not failed else 'a parallel output differs'}"
          f" (tolerance {TOLERANCE:g} of the largest value)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
