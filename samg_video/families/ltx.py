"""LTX-Video (Lightricks/LTX-Video, 0.9.x): packed latent tokens (B, F*H*W, C), flow matching.

The transformer sees the latents as one token per voxel, in frame-row-column order; the guidance sees them
as the (B, F, C, H, W) grid they are, so its energy map, normalisation and temporal smoothing are those of
any other video family.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from samg_video.families.base import ModelFamily, Source, check_frame_rule, check_multiple, load_pretrained
from samg_video.families.tiny_parts import t5_encoder, t5_tokenizer

TEMPORAL_COMPRESSION = 8  # the VAE keeps frame 0 and then one latent frame per 8 video frames
SPATIAL_MULTIPLE = 32  # the VAE's spatial compression (patch size 1)
MAX_FRAMES = 257  # the longest clips LTX-Video 0.9.x is documented for
MAX_TEXT_TOKENS = 128  # the pipeline's default text length
TINY_TEXT_TOKENS = 16


class LTXFamily(ModelFamily):
    name = "ltx"
    display_name = "LTX-Video"
    layout = "BFCHW"  # of the grid the guidance sees (see ``to_grid``)
    denoiser_attribute = "transformer"
    keeps_float32_prediction = True  # the stock pipeline calls .float() on the prediction before combining
    pipeline_class_names = ("LTXPipeline",)
    schedulers = ("flow_euler",)
    default_size = {"height": 512, "width": 704, "num_frames": 161, "fps": 25}
    tiny_size = {"height": 64, "width": 96, "num_frames": 9, "fps": 25}  # latents of 2 x 2 x 3 voxels

    def check_request(self, source: Source, height: int, width: int, num_frames: int) -> None:
        check_multiple("height", height, SPATIAL_MULTIPLE, self.display_name)
        check_multiple("width", width, SPATIAL_MULTIPLE, self.display_name)
        check_frame_rule(num_frames, TEMPORAL_COMPRESSION, MAX_FRAMES, self.display_name)

    def load(self, source: Source, dtype: torch.dtype, scheduler: str, variant: str | None) -> Any:
        from diffusers import LTXPipeline

        return self.with_scheduler(load_pretrained(LTXPipeline, source, self.name, dtype=dtype, variant=variant),
                                   scheduler)

    def scheduler_classes(self) -> dict[str, type]:
        from diffusers import FlowMatchEulerDiscreteScheduler

        return {"flow_euler": FlowMatchEulerDiscreteScheduler}

    def build_tiny(self, seed: int = 0) -> Any:
        from diffusers import (
            AutoencoderKLLTXVideo,
            FlowMatchEulerDiscreteScheduler,
            LTXPipeline,
            LTXVideoTransformer3DModel,
        )

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            tokenizer = t5_tokenizer()
            text_encoder = t5_encoder(width=32, vocab_size=len(tokenizer))
            transformer = LTXVideoTransformer3DModel(
                in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
                attention_head_dim=8, cross_attention_dim=32, num_layers=1, caption_channels=32,
            ).eval()
            # the released compression (32 in space, 8 in time), in 8 channels: the same frame and size rules
            vae = AutoencoderKLLTXVideo(
                latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1), patch_size=4,
                patch_size_t=1, encoder_causal=True, decoder_causal=False,
            ).eval()
            vae.use_framewise_encoding = vae.use_framewise_decoding = False
        return LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                           tokenizer=tokenizer, transformer=transformer)

    def call_arguments(self, pipeline: Any) -> dict[str, Any]:
        tiny = pipeline.transformer.config.caption_channels == 32
        return {"max_sequence_length": TINY_TEXT_TOKENS if tiny else MAX_TEXT_TOKENS}

    def to_grid(self, prediction: torch.Tensor, kwargs: dict[str, Any]) -> tuple[torch.Tensor, Callable]:
        """The packed ``(B, F*H*W, C)`` prediction as a ``(B, F, C, H, W)`` grid, and the way back."""
        frames, height, width = kwargs["num_frames"], kwargs["height"], kwargs["width"]
        batch, tokens, channels = prediction.shape
        grid = prediction.reshape(batch, frames, height, width, channels).permute(0, 1, 4, 2, 3)

        def packed(guided: torch.Tensor) -> torch.Tensor:
            return guided.permute(0, 1, 3, 4, 2).reshape(guided.shape[0], tokens, channels)

        return grid, packed
