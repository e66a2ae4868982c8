"""A tiny HunyuanVideo 1.5 pipeline with random weights, built offline: a guider-based pipeline to test the
guiders in (the sizes follow diffusers' own fast tests; the tokenizers are made here, not downloaded)."""

from __future__ import annotations

import json
import os
import tempfile

import torch

CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def qwen_tokenizer():
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


def tiny_hunyuan_video_15(guider):
    from diffusers import (
        AutoencoderKLHunyuanVideo15,
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideo15Pipeline,
        HunyuanVideo15Transformer3DModel,
    )
    from transformers import ByT5Tokenizer, Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel, T5Config, T5EncoderModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
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
            hidden_size=16, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
            rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"}, rope_theta=1e6,
            vocab_size=128, bos_token_id=None, eos_token_id=None,
        )).eval()
        text_encoder_2 = T5EncoderModel(T5Config(vocab_size=400, d_model=32, d_kv=8, d_ff=64, num_layers=1,
                                                 num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0)).eval()
    return HunyuanVideo15Pipeline(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
                                  text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=qwen_tokenizer(),
                                  tokenizer_2=ByT5Tokenizer(), guider=guider)
