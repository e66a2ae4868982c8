"""HunyuanVideo 1.5 (hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v and its 720p and distilled
versions): latents (B, C, F, H, W), flow matching, guidance as a pluggable ``guider`` component.

The pipeline takes its guidance method as a component (diffusers' ``guiders``), so SAMG and the other
methods run as a guider here (``guidance_route = "guider"``), not through the denoiser hook: the
pipeline's loop, scheduler and guider protocol stay diffusers' own.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import torch

from samg_video.families.base import ModelFamily, Source, check_frame_rule, check_multiple, load_pretrained

TEMPORAL_COMPRESSION = 4  # the VAE keeps frame 0 and then one latent frame per 4 video frames
SPATIAL_MULTIPLE = 16  # VAE scale 16, transformer patch size 1
MAX_FRAMES = 121  # the clip length HunyuanVideo 1.5 is trained on
# a chat template for the tiny Qwen tokenizer (the released one ships its own)
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


class HunyuanVideo15Family(ModelFamily):
    name = "hunyuan15"
    display_name = "HunyuanVideo 1.5"
    layout = "BCFHW"
    denoiser_attribute = "transformer"
    guidance_route = "guider"
    keeps_float32_prediction = False
    # the stock pipeline (diffusers 0.42) fails on several prompts per call (an attention-mask shape error):
    # a batch is rendered one clip per call
    max_prompts_per_call = 1
    pipeline_class_names = ("HunyuanVideo15Pipeline",)
    schedulers = ("flow_euler",)
    default_size = {"height": 480, "width": 848, "num_frames": 121, "fps": 24}
    tiny_size = {"height": 16, "width": 16, "num_frames": 9, "fps": 24}

    def check_request(self, source: Source, height: int, width: int, num_frames: int) -> None:
        check_multiple("height", height, SPATIAL_MULTIPLE, self.display_name)
        check_multiple("width", width, SPATIAL_MULTIPLE, self.display_name)
        check_frame_rule(num_frames, TEMPORAL_COMPRESSION, MAX_FRAMES, self.display_name)

    def load(self, source: Source, dtype: torch.dtype, scheduler: str, variant: str | None) -> Any:
        from diffusers import HunyuanVideo15Pipeline

        pipeline = load_pretrained(HunyuanVideo15Pipeline, source, self.name, dtype=dtype, variant=variant)
        return self.with_scheduler(pipeline, scheduler)

    def scheduler_classes(self) -> dict[str, type]:
        from diffusers import FlowMatchEulerDiscreteScheduler

        return {"flow_euler": FlowMatchEulerDiscreteScheduler}

    def guidance_arguments(self) -> dict[str, Any]:
        return {}  # the guider component decides; the pipeline takes no guidance_scale

    def step_callback_arguments(self, observe: Any) -> dict[str, Any]:
        return {}  # the pipeline has no step callback: non-finite values are caught in the output only

    def build_tiny(self, seed: int = 0, guider: Any = None) -> Any:
        """The sizes of diffusers' own fast tests, with tokenizers made here rather than downloaded."""
        from diffusers import (
            AutoencoderKLHunyuanVideo15,
            ClassifierFreeGuidance,
            FlowMatchEulerDiscreteScheduler,
            HunyuanVideo15Pipeline,
            HunyuanVideo15Transformer3DModel,
        )
        from transformers import ByT5Tokenizer, Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel, T5Config, T5EncoderModel

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            transformer = HunyuanVideo15Transformer3DModel(
                in_channels=9, out_channels=4, num_attention_heads=2, attention_head_dim=8, num_layers=1,
                num_refiner_layers=1, mlp_ratio=2.0, patch_size=1, patch_size_t=1, text_embed_dim=16,
                text_embed_2_dim=32, image_embed_dim=12, rope_axes_dim=(2, 2, 4), target_size=16, task_type="t2v",
            ).eval()
            vae = AutoencoderKLHunyuanVideo15(
                in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 16), layers_per_block=1,
                spatial_compression_ratio=4, temporal_compression_ratio=2, downsample_match_channel=False,
                upsample_match_channel=False,
            ).eval()
            text_encoder = Qwen2_5_VLTextModel(Qwen2_5_VLTextConfig(
                hidden_size=16, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=2, rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default",
                                                     "type": "default"},
                rope_theta=1e6, vocab_size=128, bos_token_id=None, eos_token_id=None,
            )).eval()
            text_encoder_2 = T5EncoderModel(T5Config(vocab_size=400, d_model=32, d_kv=8, d_ff=64, num_layers=1,
                                                     num_heads=4, relative_attention_num_buckets=8,
                                                     dropout_rate=0.0)).eval()
        if guider is None:
            from samg_video.guiders import quiet_experimental_notice

            with quiet_experimental_notice():
                guider = ClassifierFreeGuidance(guidance_scale=6.0)
        return HunyuanVideo15Pipeline(
            transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
            text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=qwen_tokenizer(),
            tokenizer_2=ByT5Tokenizer(), guider=guider)


def qwen_tokenizer():
    """A byte-symbol Qwen2 tokenizer with a chat template, built offline for the tiny pipeline."""
    from transformers import Qwen2Tokenizer

    symbols = [chr(c) for c in range(33, 127)] + ["Ġ", "Ċ", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    with tempfile.TemporaryDirectory() as folder:
        vocab, merges = os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt")
        with open(vocab, "w") as f:
            json.dump({symbol: i for i, symbol in enumerate(symbols)}, f)
        with open(merges, "w") as f:
            f.write("#version: 0.2\n")
        tokenizer = Qwen2Tokenizer(vocab, merges, unk_token="<|endoftext|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
