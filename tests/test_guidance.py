"""Properties of the guidance methods on random tensors of every layout."""

import itertools
import math

import pytest
import torch

from samg_video.guidance import CFG, SAMG, DynamicCFG, Step
from samg_video.guidance.dynamic_cfg import dynamic_scale

SHAPES = {"BFCHW": (2, 5, 4, 6, 8), "BCFHW": (2, 4, 5, 6, 8), "BCHW": (2, 4, 6, 8)}
STEP = Step(index=1, count=4, timestep=torch.tensor(500))

OPTION_GRID = [
    dict(zip(("energy", "norm_scope", "normalization", "mapping"), combo))
    for combo in itertools.product(("mean_square", "l2"), ("clip", "frame"), ("minmax", "quantile"),
                                   ("linear", "threshold"))
]


def pair(layout, generator, dtype=torch.float32):
    shape = SHAPES[layout]
    return (torch.randn(shape, generator=generator).to(dtype), torch.randn(shape, generator=generator).to(dtype))


@pytest.mark.parametrize("layout", SHAPES)
@pytest.mark.parametrize("options", OPTION_GRID + [dict(spatial_sigma=1.0, temporal_sigma=1.5, step_ema=0.5)])
def test_equal_scales_is_cfg(layout, options, generator):
    uncond, cond = pair(layout, generator)
    samg = SAMG(7.5, 7.5, **options)
    assert torch.equal(samg(uncond, cond, layout, STEP), CFG(7.5)(uncond, cond, layout, STEP))


@pytest.mark.parametrize("layout", SHAPES)
@pytest.mark.parametrize("options", OPTION_GRID + [dict(spatial_sigma=2.0, temporal_sigma=1.0, step_ema=0.7)])
def test_scale_map_within_bounds(layout, options, generator):
    uncond, cond = pair(layout, generator)
    samg = SAMG(4.0, 9.6, **options)
    scales = samg.scale_map(cond - uncond, layout)
    assert scales.min() >= 4.0 - 1e-5 and scales.max() <= 9.6 + 1e-5
    frames = 1 if layout == "BCHW" else 5
    assert scales.shape == (2, frames, 6, 8)


def test_default_formula_matches_reference(generator):
    """The default is exactly the formula of the reference reading, written out here independently."""
    uncond, cond = pair("BFCHW", generator)
    delta = cond - uncond
    energy = (delta**2).mean(dim=2)  # channels are dim 2 in BFCHW
    low = energy.amin(dim=(1, 2, 3), keepdim=True)
    high = energy.amax(dim=(1, 2, 3), keepdim=True)
    normalised = (energy - low) / (high - low + 1e-8)
    expected = uncond + (9.6 - normalised * (9.6 - 4.0)).unsqueeze(2) * delta
    got = SAMG(4.0, 9.6)(uncond, cond, "BFCHW", STEP)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_high_energy_gets_w_min_low_energy_gets_w_max():
    uncond = torch.zeros(1, 4, 1, 2, 2)  # BCFHW
    cond = torch.zeros(1, 4, 1, 2, 2)
    cond[0, :, 0, 0, 0] = 3.0  # one strong voxel, one weak, two silent
    cond[0, :, 0, 1, 1] = 1.0
    scales = SAMG(2.0, 10.0).scale_map(cond - uncond, "BCFHW")[0, 0]
    assert scales[0, 0].item() == pytest.approx(2.0, abs=1e-5)
    assert scales[0, 1].item() == pytest.approx(10.0, abs=1e-5)
    assert 2.0 < scales[1, 1].item() < 10.0


def test_layouts_agree_on_the_same_video(generator):
    """BFCHW and BCFHW hold the same video: SAMG must reduce over channels in both, not over frames."""
    uncond, cond = pair("BFCHW", generator)
    samg = SAMG(4.0, 9.6, temporal_sigma=1.0)
    frames_first = samg(uncond, cond, "BFCHW", STEP)
    channels_first = samg(uncond.transpose(1, 2), cond.transpose(1, 2), "BCFHW", STEP)
    torch.testing.assert_close(frames_first, channels_first.transpose(1, 2))


def test_samples_are_normalised_independently(generator):
    uncond, cond = pair("BFCHW", generator)
    samg = SAMG(4.0, 9.6)
    together = samg(uncond, cond, "BFCHW", STEP)
    cond_loud = cond.clone()
    cond_loud[1] = uncond[1] + 100 * (cond[1] - uncond[1])  # a much stronger delta in the other sample
    assert torch.equal(samg(uncond, cond_loud, "BFCHW", STEP)[0], together[0])


@pytest.mark.parametrize("layout", SHAPES)
@pytest.mark.parametrize("options", OPTION_GRID)
def test_zero_delta_is_finite(layout, options, generator):
    uncond, _ = pair(layout, generator)
    out = SAMG(4.0, 9.6, **options)(uncond, uncond.clone(), layout, STEP)
    assert torch.isfinite(out).all()
    assert torch.equal(out, uncond)


def test_temporal_smoothing_lowers_frame_to_frame_variation(generator):
    uncond, cond = pair("BFCHW", generator)
    delta = cond - uncond

    def variation(samg):
        scales = samg.scale_map(delta, "BFCHW")
        return (scales[:, 1:] - scales[:, :-1]).abs().mean().item()

    plain, smoothed = variation(SAMG(4.0, 9.6)), variation(SAMG(4.0, 9.6, temporal_sigma=1.5))
    assert smoothed < 0.5 * plain


def test_step_ema_lowers_step_to_step_variation(generator):
    deltas = [torch.randn(1, 5, 4, 6, 8, generator=generator) for _ in range(6)]

    def variation(samg):
        samg.reset()
        maps = [samg.scale_map(delta, "BFCHW") for delta in deltas]  # consecutive steps of one loop
        return sum((a - b).abs().mean().item() for a, b in zip(maps[1:], maps[:-1]))

    assert variation(SAMG(4.0, 9.6, step_ema=0.8)) < 0.5 * variation(SAMG(4.0, 9.6))


def test_ema_state_is_reset_by_a_new_loop(generator):
    delta = torch.randn(1, 5, 4, 6, 8, generator=generator)
    zero = torch.zeros_like(delta)
    fresh = SAMG(4.0, 9.6, step_ema=0.9)(zero, delta, "BFCHW", Step(0, 3, 0.0))
    samg = SAMG(4.0, 9.6, step_ema=0.9)
    samg(zero, torch.randn(delta.shape, generator=generator), "BFCHW", Step(0, 3, 0.0))
    samg(zero, torch.randn(delta.shape, generator=generator), "BFCHW", Step(1, 3, 0.0))
    assert torch.equal(samg(zero, delta, "BFCHW", Step(0, 3, 0.0)), fresh)


def test_window_uses_cfg_at_w_base_outside(generator):
    uncond, cond = pair("BCFHW", generator)
    samg = SAMG(4.0, 9.6, window=(0.25, 0.75), w_base=6.0)
    cfg = CFG(6.0)(uncond, cond, "BCFHW", STEP)
    assert torch.equal(samg(uncond, cond, "BCFHW", Step(0, 4, 0.0)), cfg)
    assert not torch.equal(samg(uncond, cond, "BCFHW", Step(1, 4, 0.0)), cfg)
    assert not torch.equal(samg(uncond, cond, "BCFHW", Step(2, 4, 0.0)), cfg)
    assert torch.equal(samg(uncond, cond, "BCFHW", Step(3, 4, 0.0)), cfg)
    assert samg.statistics()[0]["active_steps"] == 2


def test_threshold_mapping_uses_only_the_two_scales(generator):
    uncond, cond = pair("BFCHW", generator)
    scales = SAMG(4.0, 9.6, mapping="threshold", threshold_quantile=0.75).scale_map(cond - uncond, "BFCHW")
    assert sorted(scales.unique().tolist()) == [4.0, pytest.approx(9.6)]
    assert (scales == 4.0).float().mean().item() == pytest.approx(0.25, abs=0.02)


def test_frame_scope_reaches_both_bounds_in_every_frame(generator):
    uncond, cond = pair("BFCHW", generator)
    scales = SAMG(4.0, 9.6, norm_scope="frame").scale_map(cond - uncond, "BFCHW")
    torch.testing.assert_close(scales.amin(dim=(2, 3)), torch.full((2, 5), 4.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(scales.amax(dim=(2, 3)), torch.full((2, 5), 9.6), atol=1e-5, rtol=0)


def test_statistics_per_sample(generator):
    uncond, cond = pair("BFCHW", generator)
    samg = SAMG(4.0, 9.6)
    for i in range(3):
        samg(uncond, cond, "BFCHW", Step(i, 3, 0.0))
    stats = samg.statistics()
    assert len(stats) == 2
    scales = samg.scale_map(cond - uncond, "BFCHW")
    assert stats[0]["mean_scale"] == pytest.approx(scales[0].mean().item(), rel=1e-5)
    assert stats[0]["active_steps"] == 3 and len(stats[0]["per_step"]["mean_scale"]) == 3
    assert 0 < stats[0]["share_at_w_min"] < 1 and 0 < stats[0]["share_at_w_max"] < 1
    assert stats[0]["energy_q05"] <= stats[0]["energy_q50"] <= stats[0]["energy_q95"]
    assert SAMG(4.0, 9.6, collect_statistics=False).statistics() == []


def test_combines_in_float32_from_low_precision(generator):
    uncond, cond = pair("BFCHW", generator, dtype=torch.bfloat16)
    out = SAMG(4.0, 9.6)(uncond, cond, "BFCHW", STEP)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, SAMG(4.0, 9.6)(uncond.float(), cond.float(), "BFCHW", STEP))


def test_dynamic_cfg_follows_the_stock_schedule(generator):
    uncond, cond = pair("BFCHW", generator)
    for timestep in (999, 500, 1):
        step = Step(0, 50, torch.tensor(timestep))
        scale = 1 + 6.0 * ((1 - math.cos(math.pi * ((50 - timestep) / 50) ** 5.0)) / 2)
        assert dynamic_scale(6.0, timestep, 50) == scale
        assert torch.equal(DynamicCFG(6.0)(uncond, cond, "BFCHW", step), uncond + scale * (cond - uncond))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(w_min=10, w_max=5), "w_min=10 is greater than w_max=5"),
        (dict(w_min=0, w_max=5), "w_min=0 is not valid; it must be a number > 0"),
        (dict(w_min=1, w_max=-5), "w_max=-5 is not valid"),
        (dict(w_min=1, w_max=5, energy="l1"), "energy='l1' is not valid; choose one of 'mean_square', 'l2'"),
        (dict(w_min=1, w_max=5, norm_scope="video"), "norm_scope='video' is not valid; choose one of 'clip', 'frame'"),
        (dict(w_min=1, w_max=5, normalization="z"), "normalization='z' is not valid; choose one of 'minmax', 'quantile'"),
        (dict(w_min=1, w_max=5, mapping="step"), "mapping='step' is not valid; choose one of 'linear', 'threshold'"),
        (dict(w_min=1, w_max=5, window=(0.5, 1.2), w_base=3), "window=(0.5, 1.2) is not valid"),
        (dict(w_min=1, w_max=5, window=(-0.1, 0.5), w_base=3), "0 <= start < stop <= 1"),
        (dict(w_min=1, w_max=5, window=(0.2, 1.0)), "w_base is required"),
        (dict(w_min=1, w_max=5, quantile_bounds=(0.9, 0.1)), "quantile_bounds=(0.9, 0.1) is not valid"),
        (dict(w_min=1, w_max=5, threshold_quantile=1.0), "threshold_quantile=1.0 is not valid"),
        (dict(w_min=1, w_max=5, temporal_sigma=-1), "temporal_sigma=-1 is not valid"),
        (dict(w_min=1, w_max=5, step_ema=1.0), "step_ema=1.0 is not valid"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        SAMG(**kwargs)


@pytest.mark.parametrize("cls", [CFG, DynamicCFG])
@pytest.mark.parametrize("scale", [0, -2.0])
def test_cfg_rejects_non_positive_scale(cls, scale):
    with pytest.raises(ValueError, match=f"scale={scale!r} is not valid; it must be a number > 0"):
        cls(scale)


def test_unknown_layout_is_an_error(generator):
    uncond, cond = pair("BFCHW", generator)
    with pytest.raises(ValueError, match="layout='BHWC' is not valid"):
        SAMG(4.0, 9.6)(uncond, cond, "BHWC", STEP)


def test_describe_gives_the_config_import_path():
    described = SAMG(4.0, 9.6, temporal_sigma=1.0).describe()
    assert described["class_path"] == "samg_video.guidance.SAMG"
    assert described["init_args"]["w_min"] == 4.0 and described["init_args"]["temporal_sigma"] == 1.0
    assert CFG(6).describe() == {"class_path": "samg_video.guidance.CFG", "init_args": {"scale": 6.0}}


def test_gaussian_smoothing_matches_replicate_padded_convolution(generator):
    """The smoothing matrix against the straightforward pad-and-convolve definition."""
    import torch.nn.functional as F

    from samg_video.guidance.smoothing import gaussian_kernel, gaussian_smooth

    values = torch.rand(2, 7, 5, 6, generator=generator, dtype=torch.float64)
    for dim, sigma in ((1, 0.7), (1, 3.0), (2, 1.0), (3, 1.5)):
        kernel = gaussian_kernel(sigma)
        radius = kernel.numel() // 2
        rows = values.movedim(dim, -1).reshape(-1, 1, values.shape[dim])
        padded = rows
        for _ in range(radius):  # replicate one element per side at a time: works for any radius
            padded = F.pad(padded, (1, 1), mode="replicate")
        expected = F.conv1d(padded, kernel.view(1, 1, -1)).reshape(values.movedim(dim, -1).shape).movedim(-1, dim)
        torch.testing.assert_close(gaussian_smooth(values, dim, sigma), expected)
    constant = torch.full((1, 9, 4, 4), 2.5)
    torch.testing.assert_close(gaussian_smooth(constant, 1, 2.0), constant)


def test_fused_default_path_equals_the_general_path(generator):
    """The default formula runs fused into one affine pass; it must agree with normalise-then-map."""
    uncond, cond = pair("BFCHW", generator)
    samg = SAMG(4.0, 9.6)
    energy = samg.guidance_energy(cond - uncond, "BFCHW")
    general = 9.6 - samg.normalise(energy) * (9.6 - 4.0)
    torch.testing.assert_close(samg.scales_from_energy(energy), general, rtol=0, atol=1e-5)


def test_sorted_quantiles_match_torch_quantile(generator):
    from samg_video.guidance.samg import sorted_quantiles

    for count in (1, 2, 7, 1000):
        values = torch.rand(3, 2, count, generator=generator)
        expected = torch.quantile(values, torch.tensor([0.05, 0.5, 0.95]), dim=2)
        got = torch.stack(sorted_quantiles(values.sort(dim=2).values, (0.05, 0.5, 0.95)))
        torch.testing.assert_close(got, expected)
