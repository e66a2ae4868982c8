"""Parts of the tiny offline models, with random weights: in-memory tokenizers, text encoders and a VAE."""

from __future__ import annotations

import json
import os
import tempfile

# a small word-level vocabulary; unknown words map to <unk>, which is fine for random weights
WORDS = (
    "a an the of in on at with and to by from over under near is are "
    "cat dog bird fish horse panda robot person car ship boat train tree flower forest city street "
    "sea ocean river lake beach mountain sky cloud sun moon snow rain fire light night day "
    "red blue green yellow white black golden small big old new slow fast walking running flying "
    "swimming dancing sitting standing playing video clip camera view shot close wide"
).split()


def t5_tokenizer():
    return word_tokenizer(WORDS)


def word_tokenizer(words: tuple[str, ...] | list[str]):
    """A T5-style word-level tokenizer (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2) over ``words``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    vocab.update({word: i + 3 for i, word in enumerate(words)})
    model = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    model.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=model, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def t5_encoder(width: int, vocab_size: int):
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=vocab_size, d_model=width, d_kv=8, d_ff=2 * width, num_layers=1,
                      num_heads=4, relative_attention_num_buckets=8, dropout_rate=0.0)
    return T5EncoderModel(config).eval()


def clip_tokenizer(max_length: int):
    from transformers import CLIPTokenizer

    tokens = ["<|startoftext|>", "<|endoftext|>"] + [w + "</w>" for w in WORDS] + list("abcdefghijklmnopqrstuvwxyz")
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    with tempfile.TemporaryDirectory() as folder:
        vocab_file, merges_file = os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt")
        with open(vocab_file, "w") as f:
            json.dump(vocab, f)
        with open(merges_file, "w") as f:
            f.write("#version: 0.2\n")
        return CLIPTokenizer(vocab_file, merges_file, model_max_length=max_length, unk_token="<|endoftext|>")


def clip_encoder(width: int, vocab_size: int, max_length: int, projection: bool = False, layers: int = 1):
    """A CLIP text encoder; ``projection`` adds the pooled text projection SDXL's and SD3's second encoder have."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(vocab_size=vocab_size, hidden_size=width, intermediate_size=2 * width,
                            num_hidden_layers=layers, num_attention_heads=4, max_position_embeddings=max_length,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1, projection_dim=width)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def tiny_vae(latent_channels: int = 4, **options):
    """A 2D VAE that downsamples by 8, as SD's, SDXL's, SD 3's (16 latent channels) and ModelScope's."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(8, 8, 8, 8), in_channels=3, out_channels=3, latent_channels=latent_channels,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, norm_num_groups=2, sample_size=32, **options,
    ).eval()
