"""Ground-truth metrics for clips of the synthetic world (``samg_video.world``), whose prompts state
everything a clip should show.

Adherence: the object's colour, shape and motion and the background (colour and kind) are recovered
from the frames and compared with what the prompt states.

- Colour: each pixel is assigned to the nearest palette colour or the texture's dark (Euclidean RGB),
  counting only pixels within ``CONFIDENT`` of it. The most frequent palette colour is the background's,
  the next the object's.
- Background kind: the Pearson correlation of the frames' luminance (outside the object) with the
  world's fixed stripe and checkerboard patterns; above ``TEXTURE_CORRELATION`` the better one, else plain.
- Shape: per frame, the largest connected region of pixels nearest the object's colour is compared with
  each shape drawn at the world's object size with the same centroid (intersection over union); the
  shape with the highest median IoU over the frames wins. Blur rounds a square's corners and a
  triangle's apex, but leaves it closer to its own outline than to the others.
- Motion: the least-squares slope of the region's centroid over the frames; a travel below
  ``STILL_TRAVEL`` pixels over the clip is still, else the larger axis and its sign.

``world_colour``, ``world_shape``, ``world_motion`` and ``world_background`` are 1 or 0 per clip (their
means over clips are accuracies), ``world_all_correct`` is 1 when all four are, ``world_adherence`` is
the share of the four that are right.

Artifacts:

- ``palette_overshoot``: mean over the channel values of how far each lies outside the range of the
  world's colours, [40, 215], in 8-bit levels. The world itself has none: it measures colour pushed
  beyond anything the model was trained on, what over-guidance does.
- ``texture_fidelity``: for a prompt with a textured background, the Pearson correlation, over the
  background pixels of all frames, of the frames' luminance with the true background's; 1 is a perfect
  texture, 0 a washed-out one. Null for plain backgrounds.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from samg_video.metrics.frames import MetricResult, check_frames
from samg_video.world.scenes import DARK, PALETTE, SHAPES, Scene, object_mask, parse_prompt, render_background

ATTRIBUTES = ("world_colour", "world_shape", "world_motion", "world_background")
WORLD_METRICS = ("world_adherence", "world_all_correct") + ATTRIBUTES + ("palette_overshoot", "texture_fidelity")
CONFIDENT = 60.0  # RGB distance to the nearest class; blends of two colours lie farther than this
TEXTURE_CORRELATION = 0.3
CANDIDATES = 3  # palette colours considered for object and background, by confident pixel count
WIDE = 0.5  # a colour whose pixels' bounding box covers half the frame or more is background
STILL_TRAVEL = 4.0  # pixels over the clip; a moving object travels SPEED * (frames - 1) = 8
PALETTE_RANGE = (40, 215)
_CLASSES = list(PALETTE) + ["dark"]
_CLASS_RGB = np.array(list(PALETTE.values()) + [DARK], np.float32)


def world_metrics(frames: Any, prompt: str | None, names: tuple[str, ...] = WORLD_METRICS) -> dict[str, MetricResult]:
    """The named world metrics of ``(T, H, W, 3)`` uint8 RGB frames against ``prompt``.

    Raises ``ValueError`` for a prompt that is not of the world (the metric is then null with the reason).
    """
    frames = check_frames(frames, min_frames=1)
    results: dict[str, MetricResult] = {}
    if "palette_overshoot" in names:
        results["palette_overshoot"] = palette_overshoot(frames)
    prompt_names = [name for name in names if name != "palette_overshoot"]
    if not prompt_names:
        return results
    truth = parse_prompt(prompt or "")
    if truth is None:
        raise ValueError(f"the prompt {prompt!r} is not a prompt of the synthetic world")
    seen = recover_scene(frames)
    if "texture_fidelity" in names and truth.background != "plain":
        results["texture_fidelity"] = MetricResult(value=texture_fidelity(frames, truth, seen["object_mask"]),
                                                   per_pair=[], per_frame=[])
    correct = {
        "world_colour": seen["colour"] == truth.colour,
        "world_shape": seen["shape"] == truth.shape,
        "world_motion": seen["motion"] == truth.motion,
        "world_background": (seen["background"], seen["background_colour"]) == (truth.background,
                                                                               truth.background_colour),
    }
    details = {"recovered": {key: seen[key] for key in ("colour", "shape", "motion", "background",
                                                         "background_colour")}}
    scores = {**{name: float(value) for name, value in correct.items()},
              "world_adherence": float(np.mean(list(correct.values()))),
              "world_all_correct": float(all(correct.values()))}
    for name in prompt_names:
        if name in scores:
            results[name] = MetricResult(value=scores[name], per_pair=[], per_frame=[], details=details)
    return results


def recover_scene(frames: np.ndarray) -> dict[str, Any]:
    """What the frames show: object colour, shape and motion, background colour and kind, object masks."""
    pixels = frames.astype(np.float32)
    distances = ((pixels[..., None, :] - _CLASS_RGB) ** 2).sum(-1)  # (T, H, W, classes)
    nearest = distances.argmin(-1)
    confident = np.take_along_axis(distances, nearest[..., None], -1)[..., 0] <= CONFIDENT**2
    counts = np.bincount(nearest[confident], minlength=len(_CLASSES))[: len(PALETTE)]
    candidates = [index for index in np.argsort(counts)[::-1][:CANDIDATES] if counts[index] > 0]
    # the object is compact, the background spans the frame: tell them apart by where they are, not by
    # how many pixels they have (blur turns most of a fine texture into blends that count for no colour)
    spread = {index: _spread((nearest == index) & confident) for index in candidates}
    wide = [index for index in candidates if spread[index] >= WIDE]
    compact = [index for index in candidates if spread[index] < WIDE]
    background_index = wide[0] if wide else candidates[0]
    object_index = next((index for index in compact if index != background_index),
                        next((index for index in candidates if index != background_index), background_index))
    # the object's region: pixels nearer its colour than any other, so a blurred edge splits halfway
    object_mask = np.stack([_largest_region(frame_mask) for frame_mask in nearest == object_index])
    kind = _background_kind(frames, ~_dilated(object_mask))
    return {"colour": _CLASSES[object_index], "background_colour": _CLASSES[background_index],
            "background": kind, "shape": _shape(object_mask), "motion": _motion(object_mask),
            "object_mask": object_mask}


def _spread(masks: np.ndarray) -> float:
    """Median over frames of the share of the frame that the bounding box of ``masks``' pixels covers."""
    shares = []
    for mask in masks:
        rows, columns = np.nonzero(mask)
        if len(rows):
            shares.append((rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1) / mask.size)
    return float(np.median(shares)) if shares else 0.0


def palette_overshoot(frames: np.ndarray) -> MetricResult:
    low, high = PALETTE_RANGE
    values = frames.reshape(len(frames), -1).astype(np.int16)
    beyond = np.maximum(low - values, 0) + np.maximum(values - high, 0)
    per_frame = beyond.mean(1).tolist()
    return MetricResult(value=float(np.mean(per_frame)), per_pair=[], per_frame=per_frame)


def texture_fidelity(frames: np.ndarray, truth: Scene, object_mask: np.ndarray) -> float:
    height, width = frames.shape[1:3]
    if height != width:
        raise ValueError(f"the world's frames are square; these are {height}x{width}")
    true_luminance = _luminance(render_background(truth, height)[None])
    background = ~_dilated(object_mask)
    return _correlation(_luminance(frames)[background], np.broadcast_to(true_luminance, frames.shape[:3])[background])


def _background_kind(frames: np.ndarray, background: np.ndarray) -> str:
    size = frames.shape[1]
    luminance = _luminance(frames)[background]
    best, best_correlation = "plain", TEXTURE_CORRELATION
    for kind in ("stripes", "checkerboard"):
        pattern = _luminance(render_background(Scene("red", "square", "still", kind, "white", 0, 0), size)[None])
        correlation = abs(_correlation(luminance, np.broadcast_to(pattern, frames.shape[:3])[background]))
        if correlation > best_correlation:
            best, best_correlation = kind, correlation
    return best


def _shape(masks: np.ndarray) -> str:
    overlaps: dict[str, list[float]] = {shape: [] for shape in SHAPES}
    size = masks.shape[1]
    for mask in masks:
        rows, columns = np.nonzero(mask)
        if not len(rows):
            continue
        centroid = np.array([columns.mean() + 0.5, rows.mean() + 0.5])
        for shape in SHAPES:
            template = object_mask(shape, tuple(centroid - _CENTROID_OFFSET[shape]), size)
            union = (template | mask).sum()
            overlaps[shape].append((template & mask).sum() / union if union else 0.0)
    if not overlaps[SHAPES[0]]:
        return "none"
    return max(SHAPES, key=lambda shape: float(np.median(overlaps[shape])))


def _centroid_offset(shape: str) -> np.ndarray:
    """Where a shape's pixel centroid lies relative to the centre it is drawn at (a triangle's is lower)."""
    rows, columns = np.nonzero(object_mask(shape, (32.0, 32.0), 64))
    return np.array([columns.mean() + 0.5 - 32.0, rows.mean() + 0.5 - 32.0])


_CENTROID_OFFSET = {shape: _centroid_offset(shape) for shape in SHAPES}


def _motion(masks: np.ndarray) -> str:
    frames, centres = [], []
    for t, mask in enumerate(masks):
        rows, columns = np.nonzero(mask)
        if len(rows):
            frames.append(t)
            centres.append((columns.mean(), rows.mean()))
    if len(frames) < 2:
        return "none"
    slope_x, slope_y = np.polyfit(np.array(frames, np.float64), np.array(centres), 1)[0]
    travel = np.array([slope_x, slope_y]) * (len(masks) - 1)
    if np.hypot(*travel) < STILL_TRAVEL:
        return "still"
    if abs(travel[0]) >= abs(travel[1]):
        return "right" if travel[0] > 0 else "left"
    return "down" if travel[1] > 0 else "up"


def _largest_region(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros_like(mask)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def _dilated(masks: np.ndarray) -> np.ndarray:
    # a pixel's border around the object: its anti-aliased or blurred edge is neither object nor background
    kernel = np.ones((3, 3), np.uint8)
    return np.stack([cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) for mask in masks])


def _luminance(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2:  # nothing of the background is left to compare (the "object" covers the frame): no likeness
        return 0.0
    a, b = a.astype(np.float64) - a.mean(), b.astype(np.float64) - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0
