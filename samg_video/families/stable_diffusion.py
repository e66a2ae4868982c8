"""Stable Diffusion 1.5 (stable-diffusion-v1-5/stable-diffusion-v1-5): UNet, latents (B, C, H, W), epsilon."""

from __future__ import annotations

from typing import Any

import torch

from samg_video.families.base import ImageFamily
from samg_video.families.tiny_parts import clip_encoder, clip_tokenizer, tiny_vae

TINY_TEXT_LENGTH = 77  # as the released CLIP encoders: typical prompts are not truncated


class StableDiffusionFamily(ImageFamily):
    name = "sd15"
    display_name = "SD 1.5"
    denoiser_attribute = "unet"
    pipeline_class_names = ("StableDiffusionPipeline",)
    schedulers = ("pndm", "ddim", "dpm", "euler")  # PNDM is what the released model ships with
    spatial_multiple = 8  # the VAE downsamples by 8
    default_size = {"height": 512, "width": 512, "num_frames": 1, "fps": None}
    tiny_size = {"height": 32, "width": 64, "num_frames": 1, "fps": None}

    def scheduler_classes(self) -> dict[str, type]:
        from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler, PNDMScheduler

        return {"pndm": PNDMScheduler, "ddim": DDIMScheduler, "dpm": DPMSolverMultistepScheduler,
                "euler": EulerDiscreteScheduler}

    def build_tiny(self, seed: int = 0) -> Any:
        from diffusers import PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            tokenizer = clip_tokenizer(max_length=TINY_TEXT_LENGTH)
            text_encoder = clip_encoder(width=32, vocab_size=len(tokenizer), max_length=TINY_TEXT_LENGTH)
            unet = UNet2DConditionModel(
                block_out_channels=(32, 32), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                attention_head_dim=8, norm_num_groups=8,
            ).eval()
            vae = tiny_vae()
        scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1)
        return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
