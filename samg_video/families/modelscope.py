"""ModelScope text-to-video (damo-vilab/text-to-video-ms-1.7b): latents (B, C, F, H, W), epsilon."""

from __future__ import annotations

from typing import Any

import torch

from samg_video.errors import ConfigurationError
from samg_video.families.base import ModelFamily, Source, check_multiple, load_pretrained
from samg_video.families.tiny_parts import clip_encoder, clip_tokenizer, tiny_vae

SPATIAL_MULTIPLE = 8  # the 2D VAE downsamples by 8; the UNet forwards odd upsampling sizes itself


class ModelScopeFamily(ModelFamily):
    name = "modelscope"
    layout = "BCFHW"
    denoiser_attribute = "unet"
    keeps_float32_prediction = False  # the stock pipeline combines in the UNet's dtype
    pipeline_class_names = ("TextToVideoSDPipeline",)
    schedulers = ("ddim", "dpm")
    default_size = {"height": 256, "width": 256, "num_frames": 16, "fps": 8}
    tiny_size = {"height": 32, "width": 64, "num_frames": 8, "fps": 8}

    def check_request(self, source: Source, height: int, width: int, num_frames: int) -> None:
        check_multiple("height", height, SPATIAL_MULTIPLE, "ModelScope")
        check_multiple("width", width, SPATIAL_MULTIPLE, "ModelScope")
        if not isinstance(num_frames, int) or num_frames < 2:
            raise ConfigurationError(
                f"model.num_frames={num_frames!r} cannot be produced by ModelScope: any whole number >= 2 "
                "(the model is trained on 16)"
            )

    def load(self, source: Source, dtype: torch.dtype, scheduler: str, variant: str | None) -> Any:
        from diffusers import TextToVideoSDPipeline

        pipeline = load_pretrained(TextToVideoSDPipeline, source, self.name, dtype=dtype, variant=variant)
        return self.with_scheduler(pipeline, scheduler)

    def scheduler_classes(self) -> dict[str, type]:
        from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

        return {"ddim": DDIMScheduler, "dpm": DPMSolverMultistepScheduler}

    def build_tiny(self, seed: int = 0) -> Any:
        from diffusers import DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            tokenizer = clip_tokenizer(max_length=16)
            text_encoder = clip_encoder(width=32, vocab_size=len(tokenizer), max_length=16)
            unet = UNet3DConditionModel(
                block_out_channels=(32, 32), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
                down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), cross_attention_dim=32,
                attention_head_dim=8, norm_num_groups=8,
            ).eval()
            vae = tiny_vae()
        scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  clip_sample=False, set_alpha_to_one=False)
        return TextToVideoSDPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                     scheduler=scheduler)

    def step_callback_arguments(self, observe: Any) -> dict[str, Any]:
        # TextToVideoSDPipeline has only the older per-step callback, with latents (B, C, F, H, W)
        return {"callback": lambda step, timestep, latents: observe(step, latents), "callback_steps": 1}
