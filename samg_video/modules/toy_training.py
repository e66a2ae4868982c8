"""Training the toy CogVideoX on the synthetic world, in two stages with Lightning ``fit``:

1. ``VAETraining``: the 3D VAE learns to reconstruct clips (MSE plus a small KL term).
2. ``TransformerTraining``: with the VAE frozen, the transformer (and, optionally, the small T5 text
   encoder with it) learns v-prediction on the VAE's latents under the pipeline's own scheduler, with an
   exponential moving average of its weights (what is shipped). The latents come from a ``LatentPool``: a large sample of
   the world's stream encoded once, since encoding every batch anew took two thirds of each step.

Both work on the stock diffusers modules of a ``CogVideoXPipeline``, so the result is saved with
``save_pretrained`` and loads with ``CogVideoXPipeline.from_pretrained``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import Dataset
from tqdm.auto import tqdm


class VAETraining(L.LightningModule):
    """Reconstruction training of an ``AutoencoderKLCogVideoX``.

    Args:
        vae: the VAE to train (in place).
        learning_rate: AdamW learning rate.
        kl_weight: weight of the KL term; small, so the latents stay informative.
        object_weight: weight of the object's pixels in the loss (1: every pixel alike). The object covers
            about an eighth of a frame, so a plain MSE learns the textures first and leaves its edges soft;
            a refinement with a larger weight and an added L1 term, which blurs edges less, sharpens them.
        l1_weight: weight of the (object-weighted) L1 term added to the MSE.
    """

    def __init__(self, vae: torch.nn.Module, learning_rate: float = 1e-3, kl_weight: float = 1e-6,
                 object_weight: float = 1.0, l1_weight: float = 0.0):
        super().__init__()
        self.vae = vae
        self.learning_rate, self.kl_weight = learning_rate, kl_weight
        self.object_weight, self.l1_weight = object_weight, l1_weight

    def training_step(self, batch: dict[str, Any], batch_index: int) -> torch.Tensor:
        video = batch["video"]
        posterior = self.vae.encode(video).latent_dist
        reconstruction = self.vae.decode(posterior.sample()).sample
        mse = torch.nn.functional.mse_loss(reconstruction, video)
        if self.object_weight == 1.0 and self.l1_weight == 0.0:
            loss = mse
        else:
            weights = 1.0 + (self.object_weight - 1.0) * batch["object_mask"][:, None].to(video.dtype)
            error = reconstruction - video
            loss = ((error.square() + self.l1_weight * error.abs()) * weights).sum() / (weights.sum() * video.shape[1])
        loss = loss + self.kl_weight * posterior.kl().mean()
        self.log_dict({"vae/mse": mse, "vae/loss": loss}, prog_bar=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.vae.parameters(), lr=self.learning_rate, weight_decay=0.0)


class LatentPool(Dataset):
    """Clips of the world as the frozen VAE encodes them: the posterior's mean and standard deviation
    (``(C, f, h, w)`` each) and the clip's prompt. A fresh latent is sampled from them at every use."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, prompts: list[str]):
        if not len(mean) == len(std) == len(prompts):
            raise ValueError(f"{len(mean)} means, {len(std)} deviations and {len(prompts)} prompts")
        self.mean, self.std, self.prompts = mean, std, prompts

    def __len__(self) -> int:
        return len(self.prompts)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"latent_mean": self.mean[index], "latent_std": self.std[index], "prompt": self.prompts[index]}


@torch.no_grad()
def encode_latent_pool(vae: torch.nn.Module, batches: Iterable[dict[str, Any]], count: int) -> LatentPool:
    """The first ``count`` clips of ``batches`` (``{"video", "prompt"}`` batches) encoded by ``vae``."""
    means, stds, prompts = [], [], []
    with tqdm(total=count, desc="encoding the latent pool", unit="clip") as progress:
        for batch in batches:
            posterior = vae.encode(batch["video"]).latent_dist
            means.append(posterior.mean)
            stds.append(posterior.std)
            prompts.extend(batch["prompt"])
            progress.update(len(batch["prompt"]))
            if len(prompts) >= count:
                break
    return LatentPool(torch.cat(means)[:count], torch.cat(stds)[:count], prompts[:count])


class TransformerTraining(L.LightningModule):
    """v-prediction training of a CogVideoX transformer inside ``pipeline``, the VAE frozen.

    Batches are ``LatentPool`` items; a share ``empty_prompt_fraction`` of their prompts is replaced by
    the empty prompt at each step, so that the model also learns the unconditional prediction that
    classifier-free guidance needs.

    Args:
        pipeline: a ``CogVideoXPipeline`` whose VAE is trained and whose ``scaling_factor`` is set.
        learning_rate: AdamW learning rate (after a linear warm-up of ``warmup_steps``).
        ema_decay: decay of the moving average of the weights copied into the model at the end.
        empty_prompt_fraction: share of empty prompts, 0.1 to 0.2 is usual.
        max_sequence_length: text tokens, the transformer's ``max_text_seq_length``.
        train_text_encoder: train the T5 encoder with the transformer. CogVideoX gives text tokens no
            position of their own, so which colour goes with which shape can only come from the encoder;
            a frozen random one mixes neighbouring words too little for the transformer to bind them.
    """

    def __init__(self, pipeline: Any, learning_rate: float = 5e-4, warmup_steps: int = 200, ema_decay: float = 0.999,
                 empty_prompt_fraction: float = 0.15, max_sequence_length: int = 16, train_text_encoder: bool = False):
        super().__init__()
        if not 0.0 <= empty_prompt_fraction < 1.0:
            raise ValueError(f"empty_prompt_fraction={empty_prompt_fraction!r} must be in [0, 1)")
        self.pipeline = pipeline
        self.train_text_encoder = train_text_encoder
        self.learning_rate, self.warmup_steps, self.max_sequence_length = learning_rate, warmup_steps, max_sequence_length
        self.empty_prompt_fraction = empty_prompt_fraction
        pipeline.vae.requires_grad_(False).eval()
        pipeline.text_encoder.requires_grad_(train_text_encoder).train(train_text_encoder)
        # what is trained, as one module: the optimiser and the moving average see both parts
        self.trained = torch.nn.ModuleDict({"transformer": pipeline.transformer}
                                           | ({"text_encoder": pipeline.text_encoder} if train_text_encoder else {}))
        self.average = AveragedModel(self.trained, multi_avg_fn=get_ema_multi_avg_fn(ema_decay))
        self._embeddings: dict[str, torch.Tensor] = {}
        alphas = pipeline.scheduler.alphas_cumprod
        self.register_buffer("sqrt_alpha", alphas.sqrt().float(), persistent=False)
        self.register_buffer("sqrt_one_minus_alpha", (1 - alphas).sqrt().float(), persistent=False)

    def encode(self, prompts: list[str]) -> torch.Tensor:
        """The pipeline's own ``encode_prompt``: its tokenisation and its T5 call (no attention mask), here
        with gradients, which flow into the encoder when it is trained."""
        return self.pipeline.encode_prompt(prompts, do_classifier_free_guidance=False,
                                           max_sequence_length=self.max_sequence_length, device=self.device)[0]

    def embed(self, prompts: list[str]) -> torch.Tensor:
        """T5 embeddings exactly as the pipeline computes them; with the encoder frozen, each prompt's
        embedding is computed once."""
        if self.train_text_encoder:
            return self.encode(prompts)
        missing = [prompt for prompt in dict.fromkeys(prompts) if prompt not in self._embeddings]
        if missing:
            with torch.no_grad():
                embeddings = self.encode(missing)
            self._embeddings.update(zip(missing, embeddings))
        return torch.stack([self._embeddings[prompt] for prompt in prompts])

    def training_step(self, batch: dict[str, Any], batch_index: int) -> torch.Tensor:
        mean, std = batch["latent_mean"], batch["latent_std"]
        # (B, C, f, h, w) posterior sample -> (B, f, C, h, w) scaled latents, as the pipeline denoises them
        latents = ((mean + std * torch.randn_like(std)) * self.pipeline.vae.config.scaling_factor).permute(0, 2, 1, 3, 4)
        empty = torch.rand(len(batch["prompt"])) < self.empty_prompt_fraction
        prompts = ["" if drop else prompt for prompt, drop in zip(batch["prompt"], empty.tolist())]
        noise = torch.randn_like(latents)
        timesteps = torch.randint(0, len(self.sqrt_alpha), (len(latents),), device=latents.device)
        a = self.sqrt_alpha[timesteps].view(-1, 1, 1, 1, 1)
        b = self.sqrt_one_minus_alpha[timesteps].view(-1, 1, 1, 1, 1)
        noisy, velocity = a * latents + b * noise, a * noise - b * latents  # the scheduler's add_noise, get_velocity
        prediction = self.pipeline.transformer(hidden_states=noisy, encoder_hidden_states=self.embed(prompts),
                                               timestep=timesteps, return_dict=False)[0]
        loss = torch.nn.functional.mse_loss(prediction, velocity)
        self.log("transformer/loss", loss, prog_bar=True)
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_index: int) -> None:
        self.average.update_parameters(self.trained)

    def on_train_end(self) -> None:
        self.trained.load_state_dict(self.average.module.state_dict())
        self.pipeline.text_encoder.requires_grad_(False).eval()

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.trained.parameters(), lr=self.learning_rate, weight_decay=0.01)
        warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / self.warmup_steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": warmup, "interval": "step"}}


@torch.no_grad()
def latent_scaling_factor(vae: torch.nn.Module, videos: torch.Tensor) -> float:
    """``1 / std`` of the VAE's latents of ``videos``: the pipeline's latents then have unit variance."""
    return float(1.0 / vae.encode(videos).latent_dist.sample().std())


@torch.no_grad()
def reconstruction_ceiling(vae: torch.nn.Module, count: int, seed: int, batch_size: int = 32) -> dict[str, float]:
    """The world metrics' means over the VAE's reconstructions of ``count`` clips of the world (seed
    ``seed``): the ceiling of what any clip the model generates can score, the decoder being the same."""
    from samg_video.metrics.world import WORLD_METRICS, world_metrics
    from samg_video.world.scenes import render, scene_set

    scenes = scene_set(count, seed)
    values: dict[str, list[float]] = {name: [] for name in WORLD_METRICS}
    for start in range(0, count, batch_size):
        chunk = scenes[start:start + batch_size]
        clips = torch.from_numpy(np.stack([render(scene) for scene in chunk])).permute(0, 4, 1, 2, 3)
        video = clips.float().div(127.5).sub(1.0)
        decoded = vae.decode(vae.encode(video).latent_dist.mode()).sample
        frames = ((decoded.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 4, 1).numpy()
        for scene, clip in zip(chunk, frames):
            for name, result in world_metrics(clip, scene.prompt()).items():
                values[name].append(result.value)
    return {name: float(np.mean(scores)) for name, scores in values.items() if scores}
