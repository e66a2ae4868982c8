"""The scale map SAMG keeps for visualisation, and the pictures made of it."""

from pathlib import Path

import numpy as np
import pytest
import torch

from samg_video import CFG, SAMG
from samg_video.callbacks.scale_map_images import (
    LEGEND_HEIGHT,
    colourise,
    scale_map_pictures,
    upsample_scale_map,
)
from samg_video.files.media import is_scale_map_picture
from samg_video.guidance.base import Step


def test_mean_scale_map_is_the_average_over_the_active_steps_only():
    guidance = SAMG(4.0, 9.6, window=(0.0, 0.5), w_base=6.0)
    guidance.record_scale_maps(True)
    torch.manual_seed(0)
    expected = []
    for index in range(4):  # steps 0 and 1 are in the window
        uncond, cond = torch.randn(2, 4, 3, 8, 8), torch.randn(2, 4, 3, 8, 8)  # BCFHW
        if index < 2:
            expected.append(guidance.scale_map(cond - uncond, "BCFHW"))
        guidance(uncond, cond, "BCFHW", Step(index, 4, 999 - index))
    mean = guidance.mean_scale_maps()
    assert mean.shape == (2, 3, 8, 8) and mean.device.type == "cpu"
    torch.testing.assert_close(mean, (expected[0] + expected[1]) / 2)
    assert 4.0 <= mean.min() and mean.max() <= 9.6
    guidance.record_scale_maps(False)
    assert guidance.mean_scale_maps() is None


def test_scale_maps_are_not_kept_unless_asked_for_and_cfg_has_none():
    guidance = SAMG(4.0, 9.6)
    guidance(torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8), "BCHW", Step(0, 1, 999))
    assert guidance.mean_scale_maps() is None and guidance._map_sum is None
    assert not CFG(6.0).has_scale_map and CFG(6.0).mean_scale_maps() is None


def test_upsampling_keeps_a_constant_map_and_reaches_the_frame_size():
    constant = np.full((3, 4, 8), 7.0, dtype=np.float32)
    assert np.allclose(upsample_scale_map(constant, 9, 32, 64), 7.0)
    ramp = np.linspace(4.0, 9.6, 3, dtype=np.float32)[:, None, None] * np.ones((3, 4, 8), np.float32)
    resized = upsample_scale_map(ramp, 9, 32, 64)
    assert resized.shape == (9, 32, 64) and resized[0].mean() < resized[4].mean() < resized[8].mean()
    assert upsample_scale_map(np.ones((1, 4, 8), np.float32), 1, 32, 64).shape == (1, 32, 64)


def test_colours_use_the_fixed_range_so_clips_compare():
    low, high = colourise(np.array([4.0, 9.6], dtype=np.float32), 4.0, 9.6)
    assert not np.array_equal(low, high)
    # outside values clamp to the ends of the range; the same value has the same colour in any clip
    assert np.array_equal(colourise(np.array([1.0]), 4.0, 9.6)[0], low)
    assert np.array_equal(colourise(np.array([20.0]), 4.0, 9.6)[0], high)


def test_pictures_have_the_clip_size_enlarged_with_a_legend_below():
    frames = np.zeros((9, 32, 64, 3), dtype=np.uint8)
    scale_map = np.full((3, 4, 8), 4.0, dtype=np.float32)  # all at w_min
    heatmap, side_by_side = scale_map_pictures(frames, scale_map, 4.0, 9.6)
    assert heatmap.shape == (9, 4 * 32 + LEGEND_HEIGHT, 4 * 64, 3)
    assert side_by_side.shape == (9, 4 * 32 + LEGEND_HEIGHT, 8 * 64, 3)
    w_min_colour = colourise(np.array([4.0]), 4.0, 9.6)[0]
    assert (heatmap[:, : 4 * 32] == w_min_colour).all()
    assert (side_by_side[:, : 4 * 32, 4 * 64:] == w_min_colour).all() and (side_by_side[:, :, : 4 * 64] == 0).all()
    legend = heatmap[0, 4 * 32:]
    assert len({tuple(p) for p in legend.reshape(-1, 3)}) > 50  # a colour bar and its labels


@pytest.mark.parametrize("name, picture", [("a.scale_map.mp4", True), ("a.side_by_side.png", True),
                                           ("a.mp4", False), ("scale_map.mp4", False)])
def test_pictures_are_not_taken_for_clips(name, picture):
    assert is_scale_map_picture(Path(name)) == picture


def test_scale_map_writer_listed_after_the_clip_writer_is_a_clear_error():
    from types import SimpleNamespace

    from samg_video.callbacks.clip_writer import ClipWriter
    from samg_video.callbacks.scale_map_writer import ScaleMapWriter
    from samg_video.errors import ConfigurationError

    maps = ScaleMapWriter()
    trainer = SimpleNamespace(callbacks=[ClipWriter(), maps], is_global_zero=True, default_root_dir="out")
    with pytest.raises(ConfigurationError, match="list samg_video.callbacks.ScaleMapWriter before"):
        maps.setup(trainer, SimpleNamespace(guidance=SAMG(4.0, 9.6)), "predict")
    ScaleMapWriter(enabled=False).setup(trainer, SimpleNamespace(guidance=SAMG(4.0, 9.6)), "predict")  # off: no check
