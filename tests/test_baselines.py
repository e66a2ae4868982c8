"""The baseline guidance methods equal diffusers' own implementations (``diffusers.guiders``) on random
tensors of every layout, within float32 rounding."""

import pytest
import torch
from diffusers.guiders import (
    AdaptiveProjectedGuidance,
    ClassifierFreeGuidance,
    ClassifierFreeZeroStarGuidance,
    MagnitudeAwareGuidance,
)
from diffusers.guiders.adaptive_projected_guidance import MomentumBuffer

from samg_video.errors import ConfigurationError
from samg_video.guidance import APG, CFGRescale, CFGZeroStar, MamboG, Step

SHAPES = {"BCHW": (2, 4, 8, 8), "BCFHW": (2, 4, 3, 8, 8), "BFCHW": (2, 3, 4, 8, 8)}
STEPS = 4


def predictions(layout, seed):
    generator = torch.Generator().manual_seed(seed)
    uncond = torch.randn(SHAPES[layout], generator=generator)
    cond = uncond + 0.5 * torch.randn(SHAPES[layout], generator=generator)
    return uncond, cond


def run_both(ours, theirs, layout, momentum=None):
    """Both methods over a loop of STEPS steps with fresh predictions each step."""
    if momentum is not None:
        theirs.momentum_buffer = MomentumBuffer(momentum)
    for index in range(STEPS):
        uncond, cond = predictions(layout, seed=index)
        theirs.set_state(step=index, num_inference_steps=STEPS, timestep=torch.tensor(999 - index))
        expected = theirs.forward(cond, uncond).pred
        actual = ours(uncond, cond, layout, Step(index=index, count=STEPS, timestep=999 - index))
        torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", SHAPES)
@pytest.mark.parametrize("rescale", [0.0, 0.7, 1.0])
def test_cfg_rescale_equals_diffusers(layout, rescale):
    run_both(CFGRescale(7.5, rescale), ClassifierFreeGuidance(guidance_scale=7.5, guidance_rescale=rescale), layout)


@pytest.mark.parametrize("layout", SHAPES)
@pytest.mark.parametrize("eta, norm_threshold, momentum", [(1.0, 15.0, 0.0), (0.0, 2.0, -0.5), (0.3, 0.0, 0.5)])
def test_apg_equals_diffusers(layout, eta, norm_threshold, momentum):
    theirs = AdaptiveProjectedGuidance(guidance_scale=7.5, eta=eta, adaptive_projected_guidance_rescale=norm_threshold)
    run_both(APG(7.5, eta, norm_threshold, momentum), theirs, layout, momentum=momentum if momentum else None)


def test_apg_momentum_restarts_with_each_clip():
    apg = APG(5.0, momentum=-0.5)
    uncond, cond = predictions("BCHW", seed=0)
    first = apg(uncond, cond, "BCHW", Step(index=0, count=2, timestep=999))
    apg(uncond, cond, "BCHW", Step(index=1, count=2, timestep=500))
    assert torch.equal(apg(uncond, cond, "BCHW", Step(index=0, count=2, timestep=999)), first)


@pytest.mark.parametrize("layout", SHAPES)
@pytest.mark.parametrize("zero_init_steps", [0, 1, 2])
def test_cfg_zero_star_equals_diffusers(layout, zero_init_steps):
    theirs = ClassifierFreeZeroStarGuidance(guidance_scale=5.0, zero_init_steps=zero_init_steps)
    run_both(CFGZeroStar(5.0, zero_init_steps), theirs, layout)


@pytest.mark.parametrize("layout", SHAPES)
@pytest.mark.parametrize("scale, alpha", [(10.0, 8.0), (5.0, 2.0), (1.5, 0.5)])
def test_mambo_g_equals_diffusers(layout, scale, alpha, monkeypatch):
    import types

    from diffusers.guiders import magnitude_aware_guidance

    # diffusers 0.42's mambo_guidance calls torch.norm over three or more dimensions, which torch 2.14 routes to
    # matrix_norm and refuses; its own code, with that call as the vector norm it means
    shim = types.SimpleNamespace(**{name: getattr(torch, name) for name in ("exp", "Tensor")},
                                 norm=lambda x, dim, keepdim: torch.linalg.vector_norm(x, dim=dim, keepdim=keepdim))
    monkeypatch.setattr(magnitude_aware_guidance, "torch", shim)
    run_both(MamboG(scale, alpha), MagnitudeAwareGuidance(guidance_scale=scale, alpha=alpha), layout)


def test_mambo_g_reports_its_scale_per_sample_and_step():
    mambo = MamboG(7.0, alpha=8.0)
    uncond, cond = predictions("BCFHW", seed=3)
    cond = cond.clone()
    cond[1] = uncond[1] + 3 * (cond[1] - uncond[1])  # a larger update for the second sample: a lower scale
    for index in range(2):
        mambo(uncond, cond, "BCFHW", Step(index=index, count=2, timestep=999 - index))
    first, second = mambo.statistics()
    assert first["active_steps"] == 2 and 1.0 < second["mean_scale"] < first["mean_scale"] < 7.0
    ratio = (cond[0] - uncond[0]).norm() / uncond[0].norm()
    assert first["per_step"]["scale"][0] == pytest.approx(float(1 + 6 * torch.exp(-8 * ratio)), rel=1e-5)
    mambo(uncond, cond, "BCFHW", Step(index=0, count=2, timestep=999))  # a new loop starts its own record
    assert mambo.statistics()[0]["active_steps"] == 1


def test_baselines_are_selectable_and_refuse_bad_values():
    import samg_video.guidance as guidance

    assert {"CFGRescale", "APG", "CFGZeroStar", "MamboG"} <= set(guidance.__all__)
    assert CFGRescale(6.0).describe() == {"class_path": "samg_video.guidance.CFGRescale",
                                          "init_args": {"scale": 6.0, "rescale": 0.7}}
    for make in (lambda: CFGRescale(0.0), lambda: CFGRescale(6.0, rescale=1.5), lambda: APG(-1.0),
                 lambda: APG(6.0, norm_threshold=-1.0), lambda: CFGZeroStar(6.0, zero_init_steps=-1),
                 lambda: MamboG(0.0), lambda: MamboG(6.0, alpha=-1.0)):
        with pytest.raises(ConfigurationError):
            make()
