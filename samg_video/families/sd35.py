"""Stable Diffusion 3.5 Medium (stabilityai/stable-diffusion-3.5-medium): MMDiT transformer with two CLIP
encoders and T5, latents (B, C, H, W), rectified flow (the denoiser predicts a velocity)."""

from __future__ import annotations

from typing import Any

import torch

from samg_video.families.base import ImageFamily
from samg_video.families.stable_diffusion import TINY_TEXT_LENGTH
from samg_video.families.tiny_parts import clip_encoder, clip_tokenizer, t5_encoder, t5_tokenizer, tiny_vae


class StableDiffusion3Family(ImageFamily):
    name = "sd35"
    display_name = "SD 3.5"
    denoiser_attribute = "transformer"
    pipeline_class_names = ("StableDiffusion3Pipeline",)
    schedulers = ("flow_euler",)  # the flow-matching Euler scheduler the model ships with
    spatial_multiple = 16  # VAE scale 8 times patch size 2
    default_size = {"height": 1024, "width": 1024, "num_frames": 1, "fps": None}
    tiny_size = {"height": 32, "width": 64, "num_frames": 1, "fps": None}

    def scheduler_classes(self) -> dict[str, type]:
        from diffusers import FlowMatchEulerDiscreteScheduler

        return {"flow_euler": FlowMatchEulerDiscreteScheduler}

    def build_tiny(self, seed: int = 0) -> Any:
        from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

        width = 32
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            tokenizer, tokenizer_2 = clip_tokenizer(TINY_TEXT_LENGTH), clip_tokenizer(TINY_TEXT_LENGTH)
            text_encoder = clip_encoder(width, len(tokenizer), TINY_TEXT_LENGTH, projection=True, layers=2)
            text_encoder_2 = clip_encoder(width, len(tokenizer_2), TINY_TEXT_LENGTH, projection=True, layers=2)
            tokenizer_3 = t5_tokenizer()
            # the pipeline pads the two CLIP embeddings (2 * width) to T5's width and joins the sequences
            text_encoder_3 = t5_encoder(width=2 * width, vocab_size=len(tokenizer_3))
            transformer = SD3Transformer2DModel(
                sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=1, attention_head_dim=8,
                num_attention_heads=4, joint_attention_dim=2 * width, caption_projection_dim=32,
                pooled_projection_dim=2 * width, pos_embed_max_size=16,
            ).eval()
            vae = tiny_vae(latent_channels=16, use_quant_conv=False, use_post_quant_conv=False,  # as SD3's
                           shift_factor=0.0609, scaling_factor=1.5035)
        return StableDiffusion3Pipeline(
            transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
            text_encoder=text_encoder, tokenizer=tokenizer, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
            text_encoder_3=text_encoder_3, tokenizer_3=tokenizer_3,
        )
