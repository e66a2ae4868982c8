"""SAMG and DynamicCFG as diffusers guiders: the same math as samg_video.guidance, diffusers' config, and
inside a guider-based pipeline (a tiny HunyuanVideo 1.5 built offline) against diffusers' own CFG guider."""

import pytest
import torch
from tiny_hunyuan import tiny_hunyuan_video_15

from samg_video import guidance, guiders
from samg_video.errors import ConfigurationError
from samg_video.guidance.base import Step

LAYOUT_SHAPES = {"BCFHW": (2, 4, 5, 6, 7), "BCHW": (2, 4, 6, 7), "BFCHW": (2, 5, 4, 6, 7)}


@pytest.mark.parametrize("layout", LAYOUT_SHAPES)
@pytest.mark.parametrize("kind", ["samg", "dynamic_cfg"])
def test_a_guider_equals_its_samg_video_method_on_every_layout(layout, kind):
    make = {"samg": (lambda **extra: guiders.SAMG(w_min=3.0, w_max=8.0, temporal_sigma=1.0, step_ema=0.3, **extra),
                     lambda: guidance.SAMG(3.0, 8.0, temporal_sigma=1.0, step_ema=0.3)),
            "dynamic_cfg": (lambda **extra: guiders.DynamicCFG(scale=6.0, **extra), lambda: guidance.DynamicCFG(6.0))}
    make_guider, make_method = make[kind]
    guider = make_guider(layout=None if layout in ("BCFHW", "BCHW") else layout)  # 5 and 4 dimensions: inferred
    method = make_method()
    generator = torch.Generator().manual_seed(0)
    for step in range(4):
        cond, uncond = (torch.randn(LAYOUT_SHAPES[layout], generator=generator) for _ in range(2))
        timestep = torch.tensor(999.0 - 250 * step)
        guider.set_state(step=step, num_inference_steps=4, timestep=timestep)
        expected = method(uncond, cond, layout, Step(step, 4, timestep))
        assert torch.equal(guider.forward(pred_cond=cond, pred_uncond=uncond).pred, expected)
    assert guider.method.statistics() == method.statistics()


def test_guiders_save_and_load_with_their_config_and_refuse_a_bad_layout(tmp_path):
    for guider in (guiders.SAMG(w_min=2.0, w_max=5.0, spatial_sigma=1.5, layout="BFCHW", stop=0.8),
                   guiders.DynamicCFG(scale=5.0, start=0.1)):
        guider.save_pretrained(tmp_path / type(guider).__name__)
        loaded = type(guider).from_pretrained(tmp_path / type(guider).__name__)
        assert loaded.method.describe() == guider.method.describe()
        assert (loaded.layout, loaded._start, loaded._stop) == (guider.layout, guider._start, guider._stop)
    with pytest.raises(ConfigurationError, match="layout='BHWC' is not valid"):
        guiders.SAMG(layout="BHWC")
    with pytest.raises(ConfigurationError, match="w_min=9.0 is greater than w_max=4.0"):
        guiders.SAMG(w_min=9.0, w_max=4.0)


def latents(pipeline):
    return pipeline(prompt="a cat", negative_prompt="", num_inference_steps=3, height=16, width=16, num_frames=9,
                    output_type="latent", generator=torch.Generator().manual_seed(3)).frames


def test_samg_guider_inside_hunyuan_video_15_equals_diffusers_cfg_at_equal_scales():
    from diffusers.guiders import ClassifierFreeGuidance

    pipeline = tiny_hunyuan_video_15(ClassifierFreeGuidance(guidance_scale=5.0))
    stock = latents(pipeline)
    pipeline.guider = guiders.SAMG(w_min=5.0, w_max=5.0)
    assert torch.equal(latents(pipeline), stock)  # exactly diffusers' CFG at the same scale
    samg = guiders.SAMG(w_min=3.0, w_max=8.0)
    samg.method.record_scale_maps(True)
    pipeline.guider = samg
    ranged = latents(pipeline)
    assert (ranged - stock).abs().max() > 1e-3
    assert samg.method.mean_scale_maps().shape == (1, *stock.shape[2:])  # (B, F, H, W) in latent voxels
    assert [s["steps"] for s in samg.method.statistics()] == [3]


def test_apply_guidance_puts_any_guidance_object_into_a_guider_pipeline_and_removal_restores_its_own():
    from diffusers.guiders import ClassifierFreeGuidance

    from samg_video import SAMG, apply_guidance, remove_guidance

    stock_guider = ClassifierFreeGuidance(guidance_scale=5.0)
    pipeline = tiny_hunyuan_video_15(stock_guider)
    stock = latents(pipeline)
    samg = SAMG(w_min=5.0, w_max=5.0)
    guider = apply_guidance(pipeline, samg)
    assert pipeline.guider is guider and guider.method is samg
    assert torch.equal(latents(pipeline), stock)
    apply_guidance(pipeline, SAMG(w_min=3.0, w_max=8.0))  # replaces, keeping the stock guider to restore
    assert (latents(pipeline) - stock).abs().max() > 1e-3
    remove_guidance(pipeline)
    assert pipeline.guider is stock_guider and torch.equal(latents(pipeline), stock)


def test_samg_guider_through_the_component_update_of_a_modular_pipeline():
    from diffusers import HunyuanVideo15AutoBlocks
    from diffusers.guiders import ClassifierFreeGuidance

    pipeline = HunyuanVideo15AutoBlocks().init_pipeline()
    pipeline.update_components(**tiny_hunyuan_video_15(ClassifierFreeGuidance(guidance_scale=5.0)).components)

    def modular_latents():
        return pipeline(prompt="a cat", negative_prompt="", num_inference_steps=3, height=16, width=16, num_frames=9,
                        generator=torch.Generator().manual_seed(3), output="latents")

    stock = modular_latents()
    pipeline.update_components(guider=guiders.SAMG(w_min=5.0, w_max=5.0))
    assert torch.equal(modular_latents(), stock)
    pipeline.update_components(guider=guiders.SAMG(w_min=3.0, w_max=8.0))
    assert (modular_latents() - stock).abs().max() > 1e-3
