"""Stable Diffusion XL (stabilityai/stable-diffusion-xl-base-1.0): UNet with two text encoders, latents
(B, C, H, W), epsilon."""

from __future__ import annotations

from typing import Any

import torch

from samg_video.families.stable_diffusion import TINY_TEXT_LENGTH, StableDiffusionFamily
from samg_video.families.tiny_parts import clip_encoder, clip_tokenizer, tiny_vae

TIME_EMBED_DIM = 8  # per micro-conditioning value (original size, crop, target size: 6 values)


class StableDiffusionXLFamily(StableDiffusionFamily):
    """SD 1.5's UNet denoiser, size rule and schedulers; its own pipeline, defaults and tiny model."""

    name = "sdxl"
    display_name = "SDXL"
    pipeline_class_names = ("StableDiffusionXLPipeline",)
    schedulers = ("euler", "ddim", "dpm", "pndm")  # Euler is what the released model ships with
    default_size = {"height": 1024, "width": 1024, "num_frames": 1, "fps": None}

    def build_tiny(self, seed: int = 0) -> Any:
        from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

        width = 32
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            tokenizer, tokenizer_2 = clip_tokenizer(TINY_TEXT_LENGTH), clip_tokenizer(TINY_TEXT_LENGTH)
            # SDXL reads the penultimate hidden state, so each encoder needs two layers
            text_encoder = clip_encoder(width, len(tokenizer), TINY_TEXT_LENGTH, layers=2)
            text_encoder_2 = clip_encoder(width, len(tokenizer_2), TINY_TEXT_LENGTH, projection=True, layers=2)
            unet = UNet2DConditionModel(
                block_out_channels=(32, 32), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                cross_attention_dim=2 * width,  # both encoders' hidden states, concatenated
                attention_head_dim=8, norm_num_groups=8, use_linear_projection=True,
                addition_embed_type="text_time", addition_time_embed_dim=TIME_EMBED_DIM,
                projection_class_embeddings_input_dim=6 * TIME_EMBED_DIM + width,  # + pooled text embedding
            ).eval()
            vae = tiny_vae()
        scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                           steps_offset=1, timestep_spacing="leading")
        return StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                         tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=unet,
                                         scheduler=scheduler, add_watermarker=False)
