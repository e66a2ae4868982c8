"""Ground-truth metrics for clips of the synthetic world (``samg_video.world``), whose prompts state
everything a clip should show.

Adherence: each prompted object is looked for by its colour, and its shape and motion are recovered
from the frames; the background's colour and kind likewise. They are compared with what the prompt states.

- Colour classes: each pixel is assigned to the nearest palette colour or the texture's dark (Euclidean
  RGB). The background's colour is the palette colour whose confident pixels (within ``CONFIDENT``) spread
  over the frame, the most frequent of those.
- An object is found when the largest connected region of pixels nearest its colour (and within
  ``REGION_DISTANCE`` of it) is compact and holds ``MIN_AREA`` pixels in most frames. A blurred edge
  splits halfway between two colours, and blends of a texture's two colours stay out of the region.
- Shape: per frame, the region is compared with each shape drawn at the world's object size with the same
  centroid (intersection over union); the shape with the highest median IoU over the frames wins.
- Motion: the least-squares slope of the region's centroid over the frames; a travel below
  ``STILL_TRAVEL`` pixels over the clip is still, else the larger axis and its sign.
- Background kind: the Pearson correlation of the frames' luminance (outside the objects) with each of
  the world's four texture patterns; above ``TEXTURE_CORRELATION`` the best one, else plain. The
  patterns are orthogonal, so fine and coarse textures are told apart.

Per clip: ``world_colour``, ``world_shape`` and ``world_motion`` are the shares of the prompted objects
found with that attribute right (shape and motion of an object not found are wrong); ``world_binding`` is
1 when every object is found with its own shape and motion, 0 otherwise (a swap of the shapes between the
colours is a binding error); ``world_background`` is 1 when colour and kind are right;
``world_adherence`` is the mean of those five, ``world_all_correct`` 1 when all are fully right.

Artifacts:

- ``palette_overshoot``: mean over the channel values of how far each lies outside the range of the
  world's colours, [40, 215], in 8-bit levels. The world itself has none: it measures colour pushed
  beyond anything the model was trained on, what over-guidance does.
- ``texture_fidelity``: for a prompt with a textured background, the Pearson correlation, over the
  background pixels of all frames, of the frames' luminance with the true background's; 1 is a perfect
  texture, 0 a washed-out one. Null for plain backgrounds. ``texture_fidelity_fine`` and
  ``texture_fidelity_coarse`` are the same value for the prompts whose texture is at that scale (fine:
  period 4 pixels, one latent cell; coarse: 8 pixels, two cells), null for the others.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from samg_video.metrics.frames import MetricResult, check_frames
from samg_video.world.scenes import (
    DARK,
    PALETTE,
    SHAPES,
    TEXTURES,
    Scene,
    object_mask,
    parse_prompt,
    render_background,
    texture_pattern,
)

ATTRIBUTES = ("world_colour", "world_shape", "world_motion", "world_binding", "world_background")
TEXTURE_METRICS = ("texture_fidelity", "texture_fidelity_fine", "texture_fidelity_coarse")
WORLD_METRICS = ("world_adherence", "world_all_correct") + ATTRIBUTES + ("palette_overshoot",) + TEXTURE_METRICS
CONFIDENT = 60.0  # RGB distance to the nearest class; blends of two colours lie farther than this
REGION_DISTANCE = 90.0  # an object's region: nearest its colour and no farther than this
MIN_AREA = 16  # pixels; the smallest shape (a triangle) has about 50 at the world's object size
TEXTURE_CORRELATION = 0.3
WIDE = 0.5  # a colour whose pixels' bounding box covers half the frame or more is background
STILL_TRAVEL = 4.0  # pixels over the clip; a moving object travels SPEED * (frames - 1) = 8
PALETTE_RANGE = (40, 215)
_CLASSES = list(PALETTE) + ["dark"]
_CLASS_RGB = np.array(list(PALETTE.values()) + [DARK], np.float32)


def world_metrics(frames: Any, prompt: str | None, names: tuple[str, ...] = WORLD_METRICS) -> dict[str, MetricResult]:
    """The named world metrics of ``(T, H, W, 3)`` uint8 RGB frames against ``prompt``.

    Texture metrics that do not apply to the prompt's background are left out. Raises ``ValueError`` for
    a prompt that is not of the world (the metric is then null with the reason).
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
    seen = recover_scene(frames, [obj.colour for obj in truth.objects])
    texture_names = [name for name in applicable_texture_metrics(truth) if name in names]
    if texture_names:
        fidelity = texture_fidelity(frames, truth, seen["objects_mask"])
        results.update({name: MetricResult(value=fidelity, per_pair=[], per_frame=[]) for name in texture_names})
    found = [seen["objects"][obj.colour] for obj in truth.objects]
    shape_right = [f is not None and f["shape"] == obj.shape for f, obj in zip(found, truth.objects)]
    motion_right = [f is not None and f["motion"] == obj.motion for f, obj in zip(found, truth.objects)]
    scores = {
        "world_colour": float(np.mean([f is not None for f in found])),
        "world_shape": float(np.mean(shape_right)),
        "world_motion": float(np.mean(motion_right)),
        "world_binding": float(all(shape_right) and all(motion_right)),
        "world_background": float((seen["background"], seen["background_colour"]) == (truth.background,
                                                                                    truth.background_colour)),
    }
    scores["world_adherence"] = float(np.mean([scores[name] for name in ATTRIBUTES]))
    scores["world_all_correct"] = float(all(scores[name] == 1.0 for name in ATTRIBUTES))
    details = {"recovered": {"objects": [None if f is None else {"colour": obj.colour, "shape": f["shape"],
                                                                  "motion": f["motion"]}
                                         for f, obj in zip(found, truth.objects)],
                             "background": seen["background"], "background_colour": seen["background_colour"]}}
    for name in prompt_names:
        if name in scores:
            results[name] = MetricResult(value=scores[name], per_pair=[], per_frame=[], details=details)
    return results


def applicable_texture_metrics(truth: Scene) -> tuple[str, ...]:
    """The texture metrics that a scene's background has: none for plain, else the overall one and its scale's."""
    return () if truth.texture_scale is None else ("texture_fidelity", f"texture_fidelity_{truth.texture_scale}")


def recover_scene(frames: np.ndarray, colours: list[str]) -> dict[str, Any]:
    """What the frames show: the background's colour and kind, and for each of ``colours`` the object of
    that colour (its shape, motion and per-frame mask) or None where there is none."""
    pixels = frames.astype(np.float32)
    distances = ((pixels[..., None, :] - _CLASS_RGB) ** 2).sum(-1)  # (T, H, W, classes)
    nearest = distances.argmin(-1)
    nearest_distance = np.take_along_axis(distances, nearest[..., None], -1)[..., 0]
    confident = nearest_distance <= CONFIDENT**2
    counts = np.bincount(nearest[confident], minlength=len(_CLASSES))[: len(PALETTE)]
    # the objects are compact, the background spans the frame: tell them apart by where they are, not by
    # how many pixels they have (blur turns most of a fine texture into blends that count for no colour)
    by_count = [index for index in np.argsort(counts, kind="stable")[::-1] if counts[index] > 0]
    wide = [index for index in by_count if _spread((nearest == index) & confident) >= WIDE]
    background_index = wide[0] if wide else (by_count[0] if by_count else 0)
    objects: dict[str, dict[str, Any] | None] = {}
    near = nearest_distance <= REGION_DISTANCE**2
    union = np.zeros(frames.shape[:3], bool)
    for colour in colours:
        index = _CLASSES.index(colour)
        masks = np.stack([_largest_region(frame_mask) for frame_mask in (nearest == index) & near])
        areas = masks.reshape(len(masks), -1).sum(1)
        if index == background_index or np.median(areas) < MIN_AREA or _spread(masks) >= WIDE:
            objects[colour] = None
            continue
        union |= masks
        objects[colour] = {"shape": _shape(masks), "motion": _motion(masks), "mask": masks}
    kind = _background_kind(frames, ~_dilated(union))
    return {"objects": objects, "background_colour": _CLASSES[background_index], "background": kind,
            "objects_mask": union}


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


def texture_fidelity(frames: np.ndarray, truth: Scene, objects_mask: np.ndarray) -> float:
    height, width = frames.shape[1:3]
    if height != width:
        raise ValueError(f"the world's frames are square; these are {height}x{width}")
    true_luminance = _luminance(render_background(truth, height)[None])
    background = ~_dilated(objects_mask)
    return _correlation(_luminance(frames)[background], np.broadcast_to(true_luminance, frames.shape[:3])[background])


def _background_kind(frames: np.ndarray, background: np.ndarray) -> str:
    size = frames.shape[1]
    luminance = _luminance(frames)[background]
    best, best_correlation = "plain", TEXTURE_CORRELATION
    for kind in TEXTURES:
        if kind == "plain":
            continue
        pattern = (~texture_pattern(kind, size)).astype(np.float32)  # bright where the colour is
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
