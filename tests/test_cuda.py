"""On a CUDA device (skipped without one): SAMG's combine equals the CPU's, and inside the toy pipeline on
the GPU SAMG at ``w_min == w_max == s`` equals the stock pipeline at ``s``."""

import pytest
import torch

from samg_video import SAMG, apply_guidance, remove_guidance
from samg_video.families import TOY_MODEL_DIR, get_family
from samg_video.guidance import Step
from samg_video.world.scenes import FRAMES, SIZE, scene_set

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("options", [{}, {"temporal_sigma": 1.0, "step_ema": 0.5},
                                     {"normalization": "quantile", "mapping": "threshold"}],
                         ids=["default", "smoothed", "quantile"])
def test_samg_combine_on_cuda_equals_the_cpu_combine(options):
    generator = torch.Generator().manual_seed(0)
    uncond, cond = (torch.randn(2, 13, 16, 30, 45, generator=generator) for _ in range(2))
    results = {}
    for device in ("cpu", "cuda"):
        samg = SAMG(3.0, 7.5, **options)
        outputs = [samg(uncond.to(device), cond.to(device), "BFCHW", Step(index, 4, 999 - 250 * index))
                   for index in range(4)]  # several steps: the step average carries state between them
        results[device] = torch.stack(outputs).cpu()
    assert torch.allclose(results["cuda"], results["cpu"], rtol=1e-5, atol=1e-5), (
        (results["cuda"] - results["cpu"]).abs().max())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
def test_samg_at_equal_scales_equals_the_stock_toy_pipeline_on_cuda(dtype):
    from diffusers import CogVideoXPipeline

    family = get_family("cogvideox")
    pipeline = family.with_scheduler(CogVideoXPipeline.from_pretrained(TOY_MODEL_DIR, use_safetensors=True), "ddim")
    pipeline.to("cuda", dtype)
    prompts = [scene.prompt() for scene in scene_set(4, 5)]

    def render(scale):
        generators = [torch.Generator().manual_seed(i) for i in range(len(prompts))]
        return pipeline(prompts, height=SIZE, width=SIZE, num_frames=FRAMES, num_inference_steps=8,
                        guidance_scale=scale, generator=generators, output_type="latent",
                        **family.call_arguments(pipeline)).frames.float().cpu()

    stock, stock_again, stock_at_2 = render(5.0), render(5.0), render(2.0)
    apply_guidance(pipeline, SAMG(5.0, 5.0))
    try:
        guided = render(2.0)  # the pipeline's own scale is not used once guidance is applied
    finally:
        remove_guidance(pipeline)
    floor = (stock_again - stock).abs().max().item()  # the GPU's own run-to-run difference, if any
    assert (guided - stock).abs().max().item() <= floor + 1e-6
    assert (stock_at_2 - stock).abs().max().item() > 1e-3  # the scale matters: the check can fail
