"""A tiny CLIP model with random weights, saved as a transformers model folder (safetensors), for tests."""

from __future__ import annotations

from pathlib import Path


def save_tiny_clip(directory: Path, seed: int = 0) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from samg_video.families.tiny_parts import clip_tokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        tokenizer = clip_tokenizer(max_length=16)
        config = CLIPConfig(
            text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                             num_attention_heads=4, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
                             pad_token_id=1),
            vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                               num_hidden_layers=1, num_attention_heads=4),
            projection_dim=16)
        model = CLIPModel(config).eval()
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    model.save_pretrained(directory, safe_serialization=True)
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(directory)
    return directory
