"""SAMG inside the real diffusers pipelines (tiny models, random weights) against the stock pipelines."""

import json

import numpy as np
import pytest
import torch

from samg_video import CFG, SAMG, DynamicCFG, apply_guidance, remove_guidance
from samg_video.families import get_family
from samg_video.guidance import APG, CFGRescale, CFGZeroStar, MamboG
from samg_video.guided_pipelines import GuidanceHook, guidance_hook
from samg_video.modules.video_generator import VideoGenerator

PROMPTS = ["a red panda walking in a forest", "a small boat on the sea"]
TOLERANCE = 1e-6


def build(family_name, scheduler=None):
    family = get_family(family_name)
    return family, family.with_scheduler(family.build_tiny(seed=0), scheduler or family.schedulers[0])


def latents(family, pipeline, guidance_scale, steps=3, **kwargs):
    size = family.tiny_size
    arguments = {**family.call_arguments(pipeline), **family.size_arguments(size["num_frames"]), **kwargs}
    output = pipeline(
        PROMPTS, height=size["height"], width=size["width"],
        num_inference_steps=steps, guidance_scale=guidance_scale, output_type="latent",
        generator=[torch.Generator().manual_seed(s) for s in (3, 4)], **arguments,
    )
    return output.frames if family.media == "video" else output.images


FAMILY_NAMES = ["cogvideox", "modelscope", "ltx", "wan", "sd15", "sdxl", "sd35"]
# every family with its default scheduler, and the video families and SD 1.5 with a second one
CASES = [("cogvideox", "ddim"), ("cogvideox", "dpm"), ("modelscope", "ddim"), ("modelscope", "dpm"),
         ("ltx", "flow_euler"), ("wan", "unipc"), ("wan", "flow_euler"), ("sd15", "pndm"), ("sd15", "dpm"), ("sdxl", "euler"), ("sd35", "flow_euler")]


@pytest.mark.parametrize("family_name, scheduler", CASES)
def test_samg_with_equal_scales_equals_stock_pipeline(family_name, scheduler):
    family, pipeline = build(family_name, scheduler)
    stock = latents(family, pipeline, guidance_scale=6.0)
    apply_guidance(pipeline, SAMG(w_min=6.0, w_max=6.0))
    guided = latents(family, pipeline, guidance_scale=2.0)  # the pipeline's own scale must not matter
    assert (guided - stock).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("family_name, scheduler", CASES)
def test_samg_with_a_range_differs_from_cfg(family_name, scheduler):
    family, pipeline = build(family_name, scheduler)
    stock = latents(family, pipeline, guidance_scale=6.0)
    apply_guidance(pipeline, SAMG(w_min=4.0, w_max=9.6))
    assert (latents(family, pipeline, guidance_scale=6.0) - stock).abs().max().item() > 1e-3


@pytest.mark.parametrize("scheduler", ["ddim", "dpm"])
def test_dynamic_cfg_equals_stock_dynamic_cfg(scheduler):
    family, pipeline = build("cogvideox", scheduler)
    stock = latents(family, pipeline, guidance_scale=6.0, steps=4, use_dynamic_cfg=True)
    apply_guidance(pipeline, DynamicCFG(6.0))
    guided = latents(family, pipeline, guidance_scale=2.0, steps=4)
    assert (guided - stock).abs().max().item() <= TOLERANCE


def test_cfg_object_equals_stock_pipeline():
    family, pipeline = build("modelscope")
    stock = latents(family, pipeline, guidance_scale=9.0)
    apply_guidance(pipeline, CFG(9.0))
    assert (latents(family, pipeline, guidance_scale=2.0) - stock).abs().max().item() <= TOLERANCE


def test_apply_replaces_and_remove_restores():
    family, pipeline = build("cogvideox")
    stock = latents(family, pipeline, guidance_scale=6.0)
    original = pipeline.transformer
    apply_guidance(pipeline, SAMG(4.0, 9.6))
    hook = apply_guidance(pipeline, CFG(6.0))  # applying again replaces, never stacks
    # the denoiser stays the stock module; one hook on it
    assert pipeline.transformer is original and pipeline.components["transformer"] is original
    assert guidance_hook(original) is hook and len(original._forward_hooks) == 1
    remove_guidance(pipeline)
    assert pipeline.transformer is original and guidance_hook(original) is None and not original._forward_hooks
    assert torch.equal(latents(family, pipeline, guidance_scale=6.0), stock)


@pytest.mark.parametrize("family_name", ["cogvideox", "modelscope", "wan", "sd15"])
def test_guided_pipeline_saves_and_reloads_as_the_stock_pipeline(family_name, tmp_path):
    """save_pretrained after apply_guidance writes the real denoiser; it reloads as a stock pipeline."""
    import diffusers

    family, pipeline = build(family_name)
    stock = latents(family, pipeline, guidance_scale=6.0)
    apply_guidance(pipeline, SAMG(4.0, 9.6))
    pipeline.save_pretrained(tmp_path, safe_serialization=True)
    name = family.denoiser_attribute
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index[name] == ["diffusers", type(getattr(pipeline, name)).__name__]
    assert list((tmp_path / name).glob("*.safetensors"))
    reloaded = getattr(diffusers, family.pipeline_class_names[0]).from_pretrained(tmp_path, use_safetensors=True)
    saved, loaded = getattr(pipeline, name).state_dict(), getattr(reloaded, name).state_dict()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert guidance_hook(getattr(reloaded, name)) is None  # the reloaded pipeline is stock
    reloaded.scheduler = pipeline.scheduler
    assert torch.equal(latents(family, reloaded, guidance_scale=6.0), stock)


def test_guidance_statistics_cover_every_step_of_each_call():
    family, pipeline = build("cogvideox")
    samg = SAMG(4.0, 9.6)
    apply_guidance(pipeline, samg)
    latents(family, pipeline, guidance_scale=2.0, steps=3)
    latents(family, pipeline, guidance_scale=2.0, steps=5)  # a new call starts a new loop
    stats = samg.statistics()
    assert len(stats) == 2 and stats[0]["steps"] == 5 and len(stats[0]["per_step"]["mean_scale"]) == 5
    assert all(4.0 <= value <= 9.6 for value in stats[0]["per_step"]["mean_scale"])


def test_pipeline_scale_of_one_is_a_clear_error():
    family, pipeline = build("cogvideox")
    apply_guidance(pipeline, SAMG(4.0, 9.6))
    with pytest.raises(RuntimeError, match="guidance_scale > 1"):
        latents(family, pipeline, guidance_scale=1.0)


def test_unsupported_pipeline_is_a_clear_error():
    with pytest.raises(ValueError, match="object is not supported; supported pipelines: CogVideoXPipeline"):
        apply_guidance(object(), SAMG(4.0, 9.6))


def test_clip_does_not_depend_on_batch_composition():
    module = VideoGenerator(SAMG(4.0, 9.6), family="cogvideox", source="tiny", num_inference_steps=3)
    item = {"id": "a", "prompt": PROMPTS[0], "negative_prompt": "", "seed": 5}
    other = {"id": "b", "prompt": PROMPTS[1], "negative_prompt": "", "seed": 9}
    alone = module.render([item])[0]["frames"].astype(int)
    batched = module.render([other, item])[1]["frames"].astype(int)
    # the same noise and guidance; only BLAS summation order differs between batch sizes
    assert np.abs(alone - batched).max() <= 1
    reseeded = module.render([{**item, "seed": 6}])[0]["frames"].astype(int)
    assert np.abs(alone - reseeded).max() > 10


def test_loads_a_local_safetensors_directory(tmp_path):
    family, pipeline = build("cogvideox")
    pipeline.save_pretrained(tmp_path, safe_serialization=True)
    assert list((tmp_path / "transformer").glob("*.safetensors"))
    tiny = VideoGenerator(SAMG(4.0, 9.6), family="cogvideox", source="tiny", num_inference_steps=2)
    local = VideoGenerator(SAMG(4.0, 9.6), family="cogvideox", source=str(tmp_path), num_inference_steps=2,
                           height=32, width=64, num_frames=9, fps=8)
    item = {"id": "a", "prompt": PROMPTS[0], "negative_prompt": "", "seed": 5}
    assert np.array_equal(tiny.render([item])[0]["frames"], local.render([item])[0]["frames"])


def test_local_directory_with_pickle_weights_is_refused_before_loading(tmp_path):
    family, pipeline = build("cogvideox")
    pipeline.save_pretrained(tmp_path, safe_serialization=False)
    with pytest.raises(ValueError, match=r"transformer/ holds weights only as pickle files .* safetensors only"):
        VideoGenerator(SAMG(4.0, 9.6), family="cogvideox", source=str(tmp_path), height=32, width=64, num_frames=9)


def test_frame_limits_follow_the_local_transformer_config(tmp_path):
    family, pipeline = build("cogvideox")
    pipeline.save_pretrained(tmp_path, safe_serialization=True)
    VideoGenerator(SAMG(4.0, 9.6), source=str(tmp_path), height=32, width=64, num_frames=49)
    with pytest.raises(ValueError, match=r"num_frames=53 is longer than .* 5, 9, 13, \.\.\., 49"):
        VideoGenerator(SAMG(4.0, 9.6), source=str(tmp_path), height=32, width=64, num_frames=53)


def test_pipeline_components_are_submodules_so_lightning_moves_them():
    module = VideoGenerator(SAMG(4.0, 9.6), family="modelscope", source="tiny", num_inference_steps=2)
    module.configure_model()
    children = dict(module.named_children())["components"]
    assert {"unet", "vae", "text_encoder"} <= set(children.keys())
    module.to(torch.float64)  # what Lightning's device placement does, with a dtype we can see on the CPU
    assert next(module.pipeline.unet.parameters()).dtype == torch.float64


class HalfPrecisionDenoiser(torch.nn.Module):
    """Returns its input in bfloat16, like a bf16 model's forward (tuple output, return_dict=False)."""

    def forward(self, hidden_states, timestep=None, **kwargs):
        return (hidden_states.to(torch.bfloat16) * 1.5,)


class FakePipeline:
    def __init__(self, denoiser):
        self.unet = denoiser
        self.scheduler = type("Scheduler", (), {"timesteps": torch.tensor([999, 500])})()


@pytest.mark.parametrize("keep_float32, dtype", [(True, torch.float32), (False, torch.bfloat16)])
def test_hook_returns_the_dtype_the_stock_pipeline_would_have(keep_float32, dtype):
    pipeline = FakePipeline(HalfPrecisionDenoiser())
    pipeline.unet.register_forward_hook(GuidanceHook(SAMG(4.0, 9.6), "BCFHW", keep_float32, pipeline),
                                        with_kwargs=True)
    latents = torch.randn(4, 4, 3, 4, 8)  # a doubled batch of 2
    (output,) = pipeline.unet(latents, timestep=torch.tensor(999))
    assert output.dtype == dtype and output.shape == latents.shape
    assert torch.equal(output[:2], output[2:])  # [g, g]: the pipeline's own combine then yields g


@pytest.mark.parametrize("family_name", FAMILY_NAMES)
# MamboG: in the tiny random models |cond - uncond| is small next to |uncond|; a large alpha moves the scale
@pytest.mark.parametrize("make", [lambda: CFGRescale(6.0), lambda: APG(6.0, eta=0.0, momentum=-0.5),
                                  lambda: CFGZeroStar(6.0), lambda: MamboG(6.0, alpha=500.0)],
                         ids=["CFGRescale", "APG", "CFGZeroStar", "MamboG"])
def test_baselines_run_inside_every_pipeline(family_name, make):
    family, pipeline = build(family_name)
    stock = latents(family, pipeline, guidance_scale=6.0)
    apply_guidance(pipeline, make())
    guided = latents(family, pipeline, guidance_scale=2.0)
    assert torch.isfinite(guided).all() and (guided - stock).abs().max().item() > 1e-4


def wan_22(boundary_ratio=0.9):
    """A tiny Wan 2.2 A14B-style pipeline: a second transformer (the low-noise expert) from ``boundary_ratio``."""
    import copy

    from diffusers import WanPipeline

    family, pipeline = build("wan")
    second = copy.deepcopy(pipeline.transformer)
    with torch.no_grad():
        for parameter in second.parameters():
            parameter.mul_(0.9)  # a different expert
    return family, WanPipeline(tokenizer=pipeline.tokenizer, text_encoder=pipeline.text_encoder, vae=pipeline.vae,
                               scheduler=pipeline.scheduler, transformer=pipeline.transformer,
                               transformer_2=second, boundary_ratio=boundary_ratio)


def test_samg_guides_both_experts_of_wan_22_and_equals_the_stock_pipeline_at_equal_scales():
    family, pipeline = wan_22()
    stock = latents(family, pipeline, guidance_scale=6.0, steps=4, guidance_scale_2=6.0)
    stock_other_second_scale = latents(family, pipeline, guidance_scale=6.0, steps=4, guidance_scale_2=3.0)
    assert (stock - stock_other_second_scale).abs().max().item() > 1e-4  # the second expert's scale matters
    apply_guidance(pipeline, SAMG(w_min=6.0, w_max=6.0))
    guided = latents(family, pipeline, guidance_scale=2.0, steps=4, guidance_scale_2=2.0)
    assert torch.equal(guided, stock)
    # one step counter over both experts, so that step windows and step EMAs see steps 0 to 3 in order
    first, second = guidance_hook(pipeline.transformer), guidance_hook(pipeline.transformer_2)
    assert first.steps is second.steps and first.steps._index == 4
    remove_guidance(pipeline)
    assert all(guidance_hook(t) is None for t in (pipeline.transformer, pipeline.transformer_2))
    assert torch.equal(latents(family, pipeline, guidance_scale=6.0, steps=4, guidance_scale_2=6.0), stock)


def test_wan_refuses_a_pipeline_scale_of_one_which_skips_the_unconditional_call():
    family, pipeline = build("wan")
    apply_guidance(pipeline, SAMG(4.0, 9.6))
    with pytest.raises(RuntimeError, match="guidance_scale > 1"):
        latents(family, pipeline, guidance_scale=1.0)


def test_wan_22_ti2v_sizes_follow_its_16x_vae(tmp_path):
    from samg_video.errors import ConfigurationError
    from samg_video.families.base import Source

    wan = get_family("wan")
    wan.check_request(Source("hub", "Wan-AI/Wan2.2-TI2V-5B-Diffusers"), 704, 1280, 121)  # its model card's size
    with pytest.raises(ConfigurationError, match="model.height=496 .* multiple of 32"):
        wan.check_request(Source("hub", "Wan-AI/Wan2.2-TI2V-5B-Diffusers"), 496, 832, 81)
    wan.check_request(Source("hub", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"), 496, 832, 81)  # 16 for Wan 2.1
    (tmp_path / "vae").mkdir()  # a local copy: read from its VAE config
    (tmp_path / "vae" / "config.json").write_text(json.dumps({"scale_factor_spatial": 16}))
    with pytest.raises(ConfigurationError, match="multiple of 32"):
        wan.check_request(Source("local", str(tmp_path)), 496, 832, 81)
