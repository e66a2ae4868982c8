#!/usr/bin/env python
"""Cost of SAMG relative to CFG, measured in one run; prints a table of ratios.

1. The combine alone on the CogVideoX-2b latent shape (1x13x16x60x90, float32, CPU): target <= 2.0x
   (also with the scale map kept for ``ScaleMapWriter``, for information).
2. A whole tiny-pipeline render (CogVideoX, random weights, CPU): target <= 1.05x.
3. With a GPU: one denoising step of the real CogVideoX-2b transformer architecture (random weights,
   bfloat16) plus the combine: target < 1% overhead.

Methods take turns and each is reported by its median call time, so that drift and spikes in machine
load hit all of them alike. The combine is timed with a cold cache (the last-level cache evicted before
every call, untimed), as inside a sampling loop where the denoiser runs between two combines, and, for
information, with a warm cache (the same call ten times in a row, data resident in L3).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Callable

import torch

from samg_video.guidance import CFG, SAMG, Step

COGVIDEOX_2B_LATENT = (1, 13, 16, 60, 90)  # (B, F, C, H, W) for 49 frames at 480x720
# glibc hands large freed blocks back to the OS and faults them in again on the next allocation, at
# random points: a latent-sized op then costs ~10x more. Pinning the thresholds measures compute, not
# page faults, for every method alike.
EVICTION_BYTES = 64 * 2**20
PINNED_ALLOCATOR = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824"


def time_calls(functions: dict, calls: int, block: int, before: Callable[[], None] | None = None) -> dict[str, float]:
    """Median seconds per call of each function.

    The functions take turns in blocks of ``block`` consecutive calls (the first call of a block is not
    counted), so drift in machine load hits all of them alike. ``before``, when given, runs untimed
    before every call.
    """
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(max(1, calls // block)):
        for name, function in functions.items():
            for i in range(block + (block > 1)):
                if before is not None:
                    before()
                start = time.perf_counter()
                function()
                if block == 1 or i > 0:
                    samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def ratios(functions: dict, calls: int, block: int, before: Callable[[], None] | None = None) -> list:
    times = time_calls(functions, calls, block, before)
    base = times["CFG(6)"]
    return [(name, seconds, seconds / base) for name, seconds in times.items()]


def cache_evictor() -> Callable[[], None]:
    """Writes a buffer twice the size of this machine's last-level cache (32 MiB here), as the denoiser
    does between two combines in a real sampling loop."""
    scratch = torch.zeros(EVICTION_BYTES // 4)
    return lambda: scratch.add_(1.0)


def bench_combine(calls: int, cold_calls: int) -> tuple[list, list]:
    generator = torch.Generator().manual_seed(0)
    uncond = torch.randn(COGVIDEOX_2B_LATENT, generator=generator)
    cond = torch.randn(COGVIDEOX_2B_LATENT, generator=generator)
    step = Step(index=1, count=50, timestep=torch.tensor(900))
    methods = {
        "CFG(6)": CFG(6.0),
        "SAMG(4, 9.6) default": SAMG(4.0, 9.6),
        "SAMG default, no statistics": SAMG(4.0, 9.6, collect_statistics=False),
        "SAMG temporal_sigma=1 + step_ema=0.5": SAMG(4.0, 9.6, temporal_sigma=1.0, step_ema=0.5),
        "SAMG quantile + threshold": SAMG(4.0, 9.6, normalization="quantile", mapping="threshold"),
        "SAMG default + scale map kept": SAMG(4.0, 9.6),
    }
    methods["SAMG default + scale map kept"].record_scale_maps(True)  # as with ScaleMapWriter on

    def call(method):
        def run():
            method(uncond, cond, "BFCHW", step)
            if getattr(method, "_recorded", 0) >= 50:
                method.statistics()  # once per clip of 50 steps, as when rendering
                method.mean_scale_maps()
                method.reset()
        return run

    functions = {name: call(method) for name, method in methods.items()}
    time_calls(functions, 10, 1)  # warm-up
    return ratios(functions, cold_calls, block=1, before=cache_evictor()), ratios(functions, calls, block=10)


def bench_render(calls: int, steps: int) -> list[tuple[str, float, float]]:
    from samg_video.modules.video_generator import VideoGenerator

    items = [{"id": f"c{i}", "prompt": prompt, "negative_prompt": "", "seed": i}
             for i, prompt in enumerate(["a red panda walking in a forest", "a small boat on the sea"])]
    modules = {
        "CFG(6)": VideoGenerator(CFG(6.0), family="cogvideox", source="tiny", num_inference_steps=steps),
        "SAMG(4, 9.6)": VideoGenerator(SAMG(4.0, 9.6), family="cogvideox", source="tiny", num_inference_steps=steps),
    }
    for module in modules.values():
        module.configure_model()
        module.pipeline.set_progress_bar_config(disable=True)
        module.render(items)  # warm-up
    return ratios({name: (lambda m=module: m.render(items)) for name, module in modules.items()}, calls, block=1)


def bench_gpu_step(calls: int) -> list[tuple[str, float, float]]:
    from diffusers import CogVideoXTransformer3DModel

    device = torch.device("cuda")
    # the published CogVideoX-2b transformer configuration, with random weights
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=30, attention_head_dim=64, in_channels=16, out_channels=16, time_embed_dim=512,
        text_embed_dim=4096, num_layers=30, sample_width=90, sample_height=60, sample_frames=49, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=226, use_rotary_positional_embeddings=False,
        use_learned_positional_embeddings=False,
    ).to(device, torch.bfloat16).eval()
    batch, frames, channels, height, width = COGVIDEOX_2B_LATENT
    latents = torch.randn(2 * batch, frames, channels, height, width, device=device, dtype=torch.bfloat16)
    text = torch.randn(2 * batch, 226, 4096, device=device, dtype=torch.bfloat16)
    timestep = torch.full((2 * batch,), 900, device=device)
    methods = {"CFG(6)": CFG(6.0), "SAMG(4, 9.6)": SAMG(4.0, 9.6),
               "SAMG temporal_sigma=1 + step_ema=0.5": SAMG(4.0, 9.6, temporal_sigma=1.0, step_ema=0.5),
               "SAMG quantile + threshold": SAMG(4.0, 9.6, normalization="quantile", mapping="threshold")}

    def step_with(method):
        def run():
            with torch.inference_mode():
                prediction = transformer(hidden_states=latents, encoder_hidden_states=text, timestep=timestep,
                                         return_dict=False)[0].float()
                uncond, cond = prediction.chunk(2)
                method(uncond, cond, "BFCHW", Step(1, 50, timestep[0]))
            torch.cuda.synchronize()
        return run

    for method in methods.values():
        step_with(method)()
    return ratios({name: step_with(method) for name, method in methods.items()}, calls, block=1)


def print_table(title: str, rows: list[tuple[str, float, float]], target: str) -> None:
    print(f"\n{title}  (target: {target})")
    print(f"| {'method':40s} | {'median ms':>10s} | {'ratio to CFG':>12s} |")
    print(f"|{'-' * 42}|{'-' * 12}|{'-' * 14}|")
    for name, seconds, ratio in rows:
        print(f"| {name:40s} | {seconds * 1e3:10.3f} | {ratio:11.3f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--combine-calls", type=int, default=1000, help="timed calls per method, warm combine")
    parser.add_argument("--cold-calls", type=int, default=200, help="timed calls per method, cold combine")
    parser.add_argument("--render-calls", type=int, default=30, help="timed calls per method, tiny render")
    parser.add_argument("--gpu-calls", type=int, default=20, help="timed calls per method, GPU step")
    parser.add_argument("--steps", type=int, default=10, help="sampling steps of the tiny render")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--gpu-only", action="store_true", help="time only the GPU step (needs a CUDA device)")
    parser.add_argument("--default-allocator", action="store_true",
                        help="do not pin glibc's allocator thresholds (timings then jump between two regimes)")
    args = parser.parse_args()
    if not args.default_allocator and "GLIBC_TUNABLES" not in os.environ and sys.platform == "linux":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "GLIBC_TUNABLES": PINNED_ALLOCATOR})
    if args.gpu_only and not torch.cuda.is_available():
        raise SystemExit("bench_guidance: error: --gpu-only needs a CUDA device; torch sees none")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '(default)')}")
    shape = "x".join(map(str, COGVIDEOX_2B_LATENT))
    threads = torch.get_num_threads()
    for count in [] if args.gpu_only else sorted({1, threads}):
        torch.set_num_threads(count)
        cold, warm = bench_combine(args.combine_calls, args.cold_calls)
        print_table(f"Combine on the CogVideoX-2b latent {shape}, float32, CPU, {count} thread(s), cold cache "
                    "(as in a sampling loop)", cold, "SAMG <= 2.0x")
        print_table(f"Combine, {count} thread(s), warm cache (10 calls in a row, data in L3)", warm, "informative")
    torch.set_num_threads(threads)
    if not args.gpu_only:
        print_table(f"Whole tiny CogVideoX render, 2 clips, {args.steps} steps, CPU",
                    bench_render(args.render_calls, args.steps), "SAMG <= 1.05x")
    if torch.cuda.is_available():
        print_table(f"One denoising step, CogVideoX-2b transformer (random weights, bf16), {torch.cuda.get_device_name()}",
                    bench_gpu_step(args.gpu_calls), "SAMG < 1.01x")
    else:
        print("\nGPU step overhead: skipped (no CUDA device)")


if __name__ == "__main__":
    main()
