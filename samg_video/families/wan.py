"""Wan 2.1 and 2.2 (Wan-AI/Wan2.1-T2V-1.3B-Diffusers, -14B, Wan2.2-T2V-A14B, TI2V-5B): latents
(B, C, F, H, W), flow matching. TI2V-5B's VAE compresses 16x (sizes in multiples of 32) and it denoises
with per-token timesteps (``expand_timesteps``); the pipeline handles both.

Unlike the other video pipelines, ``WanPipeline`` calls its transformer twice per step, conditional
first, then unconditional, and combines them itself; Wan 2.2 A14B switches from ``transformer`` (high
noise) to ``transformer_2`` (low noise) at ``boundary_ratio``, each with its own scale. The guidance
hook handles both (``separate_guidance_calls``; see ``samg_video.guided_pipelines``).
"""

from __future__ import annotations

from typing import Any

import torch

from samg_video.families.base import ModelFamily, Source, check_frame_rule, check_multiple, load_pretrained
from samg_video.families.tiny_parts import t5_encoder, t5_tokenizer

TEMPORAL_COMPRESSION = 4  # the VAE keeps frame 0 and then one latent frame per 4 video frames
SPATIAL_MULTIPLE = 16  # VAE scale 8 times transformer patch size 2
TI2V_SPATIAL_SCALE = 16  # Wan 2.2 TI2V-5B's VAE
MAX_FRAMES = 121  # Wan 2.2 TI2V-5B's clips (5 s at 24 fps); Wan 2.1 is trained on 81


class WanFamily(ModelFamily):
    name = "wan"
    display_name = "Wan"
    layout = "BCFHW"
    denoiser_attribute = "transformer"
    # Wan 2.2 A14B's low-noise expert: guided like the first
    extra_denoiser_attributes = ("transformer_2",)
    separate_guidance_calls = True
    keeps_float32_prediction = False  # the stock pipeline combines in the transformer's dtype
    pipeline_class_names = ("WanPipeline",)
    schedulers = ("unipc", "flow_euler")
    default_size = {"height": 480, "width": 832, "num_frames": 81, "fps": 16}
    tiny_size = {"height": 32, "width": 32, "num_frames": 9, "fps": 16}

    def check_request(self, source: Source, height: int, width: int, num_frames: int) -> None:
        multiple = self._spatial_multiple(source)
        check_multiple("height", height, multiple, self.display_name)
        check_multiple("width", width, multiple, self.display_name)
        # the stock pipeline would round other lengths with a warning; a run renders what it was asked for or stops
        check_frame_rule(num_frames, TEMPORAL_COMPRESSION, MAX_FRAMES, self.display_name, landmark="81 (Wan 2.1)")

    def _spatial_multiple(self, source: Source) -> int:
        """VAE scale times patch size 2: 16, or 32 for Wan 2.2 TI2V-5B, whose VAE compresses 16x."""
        config = source.config_of("vae")
        if config is not None:
            return 2 * int(config.get("scale_factor_spatial") or 8)
        return 2 * TI2V_SPATIAL_SCALE if "TI2V" in source.location else SPATIAL_MULTIPLE

    def load(self, source: Source, dtype: torch.dtype, scheduler: str, variant: str | None) -> Any:
        from diffusers import WanPipeline

        return self.with_scheduler(load_pretrained(WanPipeline, source, self.name, dtype=dtype, variant=variant),
                                   scheduler)

    def scheduler_classes(self) -> dict[str, type]:
        from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

        # the released pipelines ship UniPC with flow sigmas and their flow shift in its config
        return {"unipc": UniPCMultistepScheduler, "flow_euler": FlowMatchEulerDiscreteScheduler}

    def with_scheduler(self, pipeline: Any, scheduler: str) -> Any:
        from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

        config = dict(pipeline.scheduler.config)
        if scheduler == "unipc" and not isinstance(pipeline.scheduler, UniPCMultistepScheduler):
            # from a flow-matching config: UniPC on flow sigmas with the same shift, as Wan's own
            pipeline.scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                         flow_shift=config.get("shift", 3.0))
        elif scheduler == "flow_euler" and not isinstance(pipeline.scheduler, FlowMatchEulerDiscreteScheduler):
            pipeline.scheduler = FlowMatchEulerDiscreteScheduler(shift=config.get("flow_shift", 3.0))
        else:
            pipeline.scheduler = type(pipeline.scheduler).from_config(config)
        return pipeline

    def build_tiny(self, seed: int = 0) -> Any:
        from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            tokenizer = t5_tokenizer()
            text_encoder = t5_encoder(width=32, vocab_size=len(tokenizer))
            transformer = WanTransformer3DModel(
                patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
                text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
            ).eval()
            vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                   temperal_downsample=[False, True, True]).eval()
        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
        return WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                           transformer=transformer)
