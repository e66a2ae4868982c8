"""Seconds per clip of each metric on this machine's CPU, for a 49-frame 480x720 clip (CogVideoX's output
size), against the targets.

    python scripts/bench_metrics.py [--repeats 5] [--frames 49] [--height 480] [--width 720] [--only TEXT]

The clip is a camera pan over a textured scene with an object moving against it, so that the flow
methods do real work. Each figure is the median of ``--repeats`` runs (CLIP rows: one run, they take
seconds to a minute), all measured in this one run, after a warm-up run. Temporal LPIPS uses the AlexNet
trunk from the torch hub cache when it is there, else a random trunk of the same architecture; CLIP score
uses the released ViT-B/32 and ViT-L/14 architectures with random weights (the same compute; the values
are meaningless but the times are not).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

import cv2
import numpy as np
import torch

from samg_video.metrics import TemporalLPIPS, colour_metrics, make_flow_backend, temporal_flickering, warping_error


def benchmark_clip(frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scene = cv2.GaussianBlur(rng.integers(0, 256, (height + 2 * frames, width + 3 * frames, 3), dtype=np.uint8),
                             (0, 0), 2.0)
    patch = cv2.GaussianBlur(rng.integers(0, 256, (height // 4, width // 5, 3), dtype=np.uint8), (0, 0), 1.0)
    clip = []
    for t in range(frames):
        frame = scene[2 * t:2 * t + height, 3 * t:3 * t + width].copy()
        top, left = height // 3, (width // 8 + 6 * t) % (width - patch.shape[1])
        frame[top:top + patch.shape[0], left:left + patch.shape[1]] = patch
        clip.append(frame)
    return np.stack(clip)


# the released architectures (openai/clip-vit-base-patch32, openai/clip-vit-large-patch14), random weights:
# the same compute as the real models, which cannot be downloaded here
CLIP_ARCHITECTURES = {
    "ViT-B/32": dict(vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                                 patch_size=32), text=dict(hidden_size=512, intermediate_size=2048,
                                                           num_attention_heads=8), projection_dim=512),
    "ViT-L/14": dict(vision=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                 num_attention_heads=16, patch_size=14),
                     text=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12), projection_dim=768),
}


def random_clip(architecture: str, every_k_frames: int):
    """A CLIP scorer with the architecture's compute and random weights (224 px images, 77 text tokens)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from samg_video.families.tiny_parts import clip_tokenizer
    from samg_video.metrics import CLIPScorer

    spec = CLIP_ARCHITECTURES[architecture]
    tokenizer = clip_tokenizer(max_length=77)
    config = CLIPConfig(text_config=dict(vocab_size=49408, num_hidden_layers=12, max_position_embeddings=77,
                                         bos_token_id=0, eos_token_id=1, pad_token_id=1, **spec["text"]),
                        vision_config=dict(image_size=224, **spec["vision"]), projection_dim=spec["projection_dim"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CLIPModel(config)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=tokenizer)
    return CLIPScorer.from_model(model, processor, f"random {architecture}", every_k_frames)


def dis_flows_only(clip: np.ndarray, preset: str) -> None:
    flow = make_flow_backend("dis", preset)
    flow.map_chunks(flow.prepare(clip), 4, lambda start, stop, forward, backward: None)


def median_seconds(task, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        task()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--only", help="time only the rows whose name contains this text, e.g. colour")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    clip = benchmark_clip(args.frames, args.height, args.width)

    lpips = TemporalLPIPS()
    trunk_note = "AlexNet trunk"
    if not lpips.available:
        lpips = TemporalLPIPS(random_trunk_seed=0)
        trunk_note = "AlexNet, random trunk: no weights offline"
    prompt = "a red panda walking in a bamboo forest, cinematic lighting"
    rows = [
        ("flicker (VBench)", lambda: temporal_flickering(clip), 0.3),
        ("colour: saturation, colourfulness, clipped fraction (one pass)", lambda: colour_metrics(clip), 0.05),
        ("warping error, DIS medium", lambda: warping_error(clip, make_flow_backend("dis", "medium")), 1.5),
        # the floor under the row above: its 2 (T - 1) flows alone, on the same worker threads
        ("  of which DIS medium flows alone", lambda: dis_flows_only(clip, "medium"), None),
        ("warping error, DIS fast", lambda: warping_error(clip, make_flow_backend("dis", "fast")), None),
        ("warping error, DIS ultrafast", lambda: warping_error(clip, make_flow_backend("dis", "ultrafast")), None),
        ("warping error, Farneback", lambda: warping_error(clip, make_flow_backend("farneback")), None),
        (f"temporal LPIPS ({trunk_note})", lambda: lpips(clip), None),
    ]
    for architecture in ("ViT-B/32", "ViT-L/14"):
        for every in (1, 4):
            name = f"CLIP score, {architecture} (random weights), every {'frame' if every == 1 else f'{every}th frame'}"
            if args.only and args.only not in name:
                continue
            scorer = random_clip(architecture, every)
            rows.append((name, lambda scorer=scorer: scorer(clip, prompt), None))
    print(f"clip: {args.frames} frames, {args.height}x{args.width}; CPU threads: torch {torch.get_num_threads()}, "
          f"OpenCV {cv2.getNumThreads()}, cores {os.cpu_count()}; median of {args.repeats} runs\n")
    print(f"| {'metric':<64} | {'s / clip':>9} | {'target s':>8} | {'time / target':>13} |")
    print(f"|{'-' * 66}|{'-' * 11}|{'-' * 10}|{'-' * 15}|")
    for name, task, target in rows:
        if args.only and args.only not in name:
            continue
        task()  # warm-up: first-call allocations, OpenCV and torch thread pools
        # a CLIP pass over a whole clip takes seconds to a minute on a CPU: one timed run after the warm-up
        seconds = median_seconds(task, 1 if name.startswith("CLIP") else args.repeats)
        target_text = f"{target:g}" if target else "-"
        ratio = f"{seconds / target:.2f} {'met' if seconds <= target else 'MISSED'}" if target else "-"
        print(f"| {name:<64} | {seconds:>9.3f} | {target_text:>8} | {ratio:>13} |")


if __name__ == "__main__":
    main()
