"""Pictures of a guidance scale map: a heatmap at the frame size with a legend, and clip | heatmap side by
side. Pure numpy/torch; writing the files is ``samg_video.callbacks.ScaleMapWriter``'s job."""

from __future__ import annotations

import numpy as np
import torch

COLOUR_MAP = "viridis"  # perceptually uniform, readable in greyscale: dark = w_min, yellow = w_max
MIN_DISPLAY_WIDTH = 256  # smaller frames are enlarged (nearest neighbour) so that the legend can be read
LEGEND_HEIGHT = 20
LABEL_WIDTH = 76


def upsample_scale_map(scale_map: np.ndarray, num_frames: int, height: int, width: int) -> np.ndarray:
    """A ``(latent frames, rows, columns)`` map resized to ``(num_frames, height, width)``.

    Linear in time (first and last latent frames land on the first and last frames, as the video VAEs
    align them) and in space.
    """
    volume = torch.as_tensor(scale_map, dtype=torch.float32)[None, None]
    if volume.shape[2] == 1 or num_frames == 1:  # an image, or a map without a time axis to interpolate
        resized = torch.nn.functional.interpolate(volume[:, :, 0], size=(height, width), mode="bilinear",
                                                  align_corners=False)
        return resized[0, 0][None].expand(num_frames, height, width).numpy()
    resized = torch.nn.functional.interpolate(volume, size=(num_frames, height, width), mode="trilinear",
                                              align_corners=False)
    return resized[0, 0].numpy()


def colourise(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values mapped to RGB uint8 over the fixed range ``[low, high]``, so maps of different clips compare."""
    from matplotlib import colormaps

    span = high - low
    unit = np.clip((values - low) / span, 0.0, 1.0) if span > 0 else np.full_like(values, 0.5)
    table = (colormaps[COLOUR_MAP](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
    return table[np.round(unit * 255).astype(np.int64)]


def legend(width: int, low: float, high: float) -> np.ndarray:
    """A ``(LEGEND_HEIGHT, width, 3)`` strip: ``low`` | colour bar | ``high``."""
    import cv2

    strip = np.zeros((LEGEND_HEIGHT, width, 3), dtype=np.uint8)
    bar_width = max(width - 2 * LABEL_WIDTH, 8)
    bar = colourise(np.linspace(low, high, bar_width, dtype=np.float32), low, high)
    left = (width - bar_width) // 2
    strip[4:LEGEND_HEIGHT - 4, left:left + bar_width] = bar[None]
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1
    for text, right_aligned in ((f"w_min {low:g}", False), (f"w_max {high:g}", True)):
        (text_width, text_height), _ = cv2.getTextSize(text, font, scale, thickness)
        x = width - text_width - 3 if right_aligned else 3
        cv2.putText(strip, text, (x, (LEGEND_HEIGHT + text_height) // 2), font, scale, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return strip


def display_factor(width: int) -> int:
    """Whole-number enlargement that makes a frame at least ``MIN_DISPLAY_WIDTH`` wide."""
    return max(1, -(-MIN_DISPLAY_WIDTH // width))


def enlarge(frames: np.ndarray, factor: int) -> np.ndarray:
    """``(F, H, W, 3)`` frames enlarged by repeating pixels (no smoothing: what you see is what was made)."""
    return frames if factor == 1 else frames.repeat(factor, axis=1).repeat(factor, axis=2)


def with_legend(frames: np.ndarray, low: float, high: float) -> np.ndarray:
    strip = legend(frames.shape[2], low, high)
    return np.concatenate([frames, np.broadcast_to(strip, (frames.shape[0], *strip.shape))], axis=1)


def scale_map_pictures(frames: np.ndarray, scale_map: np.ndarray, low: float, high: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """The heatmap and side-by-side frames for a clip ``(F, H, W, 3)`` uint8 and its latent scale map.

    Returns ``(heatmap, side_by_side)``, each ``(F, H', W', 3)`` uint8 with a legend strip at the bottom;
    frames narrower than ``MIN_DISPLAY_WIDTH`` are enlarged by a whole factor.
    """
    num_frames, height, width = frames.shape[:3]
    heat = colourise(upsample_scale_map(scale_map, num_frames, height, width), low, high)
    factor = display_factor(width)
    heat, clip = enlarge(heat, factor), enlarge(frames, factor)
    heatmap = with_legend(heat, low, high)
    padded_clip = np.concatenate([clip, np.zeros((num_frames, LEGEND_HEIGHT, *clip.shape[2:]), np.uint8)], axis=1)
    side_by_side = np.concatenate([padded_clip, heatmap], axis=2)
    return np.ascontiguousarray(heatmap), np.ascontiguousarray(side_by_side)
