"""CogVideoX (THUDM/CogVideoX-2b, -5b, CogVideoX 1.5): latents (B, F, C, H, W), v-prediction."""

from __future__ import annotations

from typing import Any

import torch

from samg_video.errors import ConfigurationError
from samg_video.families.base import ModelFamily, Source, check_multiple, load_pretrained
from samg_video.families.tiny_parts import t5_encoder, t5_tokenizer, word_tokenizer

TEMPORAL_COMPRESSION = 4  # the 3D VAE keeps frame 0 and then one latent frame per 4 video frames
SPATIAL_MULTIPLE = 16  # VAE scale 8 times transformer patch size 2
# trained clip lengths: CogVideoX 1.0 is trained on 49 frames; 1.5 on 81 and 161
MAX_FRAMES_1_0 = 49
MAX_FRAMES_1_5 = 161
MAX_TEXT_TOKENS = 226
# the toy model trained on the synthetic world (samg_video.world)
TOY_LATENT_CHANNELS = 8
TOY_TEXT_WIDTH = 64
TOY_TEXT_TOKENS = 24  # the longest prompt of the world is 17 words, and T5 ends it with one more token


class CogVideoXFamily(ModelFamily):
    name = "cogvideox"
    layout = "BFCHW"
    denoiser_attribute = "transformer"
    keeps_float32_prediction = True  # the stock pipeline calls .float() on the prediction before combining
    pipeline_class_names = ("CogVideoXPipeline",)
    schedulers = ("ddim", "dpm")
    default_size = {"height": 480, "width": 720, "num_frames": 49, "fps": 8}
    tiny_size = {"height": 32, "width": 64, "num_frames": 9, "fps": 8}
    toy_size = {"height": 32, "width": 32, "num_frames": 9, "fps": 8}  # the synthetic world's clips

    def check_request(self, source: Source, height: int, width: int, num_frames: int) -> None:
        if source.kind == "toy":
            trained = (self.toy_size["height"], self.toy_size["width"], self.toy_size["num_frames"])
            if (height, width, num_frames) != trained:
                raise ConfigurationError(
                    f"model.source='toy' makes {trained[0]}x{trained[1]} clips of {trained[2]} frames only, the "
                    f"size it was trained on; got height={height}, width={width}, num_frames={num_frames} "
                    "(leave them unset)")
            return
        check_multiple("height", height, SPATIAL_MULTIPLE, "CogVideoX")
        check_multiple("width", width, SPATIAL_MULTIPLE, "CogVideoX")
        max_frames = self._max_frames(source)
        valid = f"4k+1 frames between 5 and {max_frames}: 5, 9, 13, ..., {max_frames}"
        if not isinstance(num_frames, int) or num_frames < 5 or (num_frames - 1) % TEMPORAL_COMPRESSION:
            raise ConfigurationError(f"model.num_frames={num_frames!r} cannot be produced by CogVideoX: {valid}")
        if num_frames > max_frames:
            raise ConfigurationError(f"model.num_frames={num_frames} is longer than {source.location!r} "
                                     f"was trained for: {valid}")

    def _max_frames(self, source: Source) -> int:
        if source.kind == "tiny":
            return 4 * 8 + 1
        config = source.config_of("transformer")
        if config is not None:  # 1.5 has a temporal patch size; 1.0 has none
            return MAX_FRAMES_1_5 if config.get("patch_size_t") else MAX_FRAMES_1_0
        return MAX_FRAMES_1_5 if "1.5" in source.location else MAX_FRAMES_1_0

    def load(self, source: Source, dtype: torch.dtype, scheduler: str, variant: str | None) -> Any:
        from diffusers import CogVideoXPipeline

        pipeline = load_pretrained(CogVideoXPipeline, source, self.name, dtype=dtype, variant=variant)
        return self.with_scheduler(pipeline, scheduler)

    def with_scheduler(self, pipeline: Any, scheduler: str) -> Any:
        from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler

        scheduler_class = {"ddim": CogVideoXDDIMScheduler, "dpm": CogVideoXDPMScheduler}[scheduler]
        # "trailing" spacing is what the CogVideoX model cards use with both schedulers
        pipeline.scheduler = scheduler_class.from_config(pipeline.scheduler.config, timestep_spacing="trailing")
        return pipeline

    def build_tiny(self, seed: int = 0) -> Any:
        from diffusers import (
            AutoencoderKLCogVideoX,
            CogVideoXDDIMScheduler,
            CogVideoXPipeline,
            CogVideoXTransformer3DModel,
        )

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            tokenizer = t5_tokenizer()
            text_encoder = t5_encoder(width=32, vocab_size=len(tokenizer))
            transformer = CogVideoXTransformer3DModel(
                num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=4,
                text_embed_dim=32, num_layers=1, sample_height=4, sample_width=8, sample_frames=9, patch_size=2,
                temporal_compression_ratio=TEMPORAL_COMPRESSION, max_text_seq_length=16,
            ).eval()
            vae = AutoencoderKLCogVideoX(
                in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
                up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
                layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=TEMPORAL_COMPRESSION,
            ).eval()
        pipeline = CogVideoXPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                                     transformer=transformer, scheduler=CogVideoXDDIMScheduler())
        return pipeline

    def build_toy_untrained(self, vocabulary: tuple[str, ...], seed: int = 0) -> Any:
        """The toy model's architecture with fresh weights, for training on the synthetic world: 32x32
        pixels, 9 frames; a 3-block VAE (4x spatial, 4x temporal compression, 8 latent channels); a
        transformer with patch size 1, so each of its 3 x 8 x 8 = 192 tokens is one latent cell (with patch
        size 2, a 10-pixel object was one or two tokens and came out as a blob); a 1-layer T5 over the world's
        word vocabulary, trained with the transformer. Each part is drawn from its own seed, so a change to
        one leaves the others' initial weights as they were."""
        from diffusers import (
            AutoencoderKLCogVideoX,
            CogVideoXDDIMScheduler,
            CogVideoXPipeline,
            CogVideoXTransformer3DModel,
        )

        tokenizer = word_tokenizer(vocabulary)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            vae = AutoencoderKLCogVideoX(
                in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 3,
                up_block_types=("CogVideoXUpBlock3D",) * 3, block_out_channels=(16, 32, 32),
                latent_channels=TOY_LATENT_CHANNELS, layers_per_block=1, norm_num_groups=4,
                temporal_compression_ratio=TEMPORAL_COMPRESSION,
            )
            torch.manual_seed(seed + 1)
            text_encoder = t5_encoder(width=TOY_TEXT_WIDTH, vocab_size=len(tokenizer)).requires_grad_(False)
            torch.manual_seed(seed + 2)
            transformer = CogVideoXTransformer3DModel(
                num_attention_heads=4, attention_head_dim=32, in_channels=TOY_LATENT_CHANNELS,
                out_channels=TOY_LATENT_CHANNELS, time_embed_dim=64, text_embed_dim=TOY_TEXT_WIDTH, num_layers=6,
                sample_height=8, sample_width=8, sample_frames=9, patch_size=1,
                temporal_compression_ratio=TEMPORAL_COMPRESSION, max_text_seq_length=TOY_TEXT_TOKENS,
            )
        return CogVideoXPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                                 scheduler=CogVideoXDDIMScheduler(  # as the released CogVideoX-2b
                                     prediction_type="v_prediction", rescale_betas_zero_snr=True, clip_sample=False,
                                     timestep_spacing="trailing"))

    def call_arguments(self, pipeline: Any) -> dict[str, Any]:
        # the transformer's text length: 226 for the released models, 16 for the tiny one
        return {"max_sequence_length": pipeline.transformer.config.max_text_seq_length,
                "use_dynamic_cfg": False}
