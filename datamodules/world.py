"""Batches of the synthetic world (``samg_video.world``) for training the toy model: an endless,
reproducible stream of rendered clips and their prompts."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from samg_video.world.scenes import (
    FRAMES,
    SIZE,
    miscaption,
    objects_mask,
    random_scene,
    render,
)


class WorldClips(IterableDataset):
    """Endless ``{"video": (3, F, H, W) float in [-1, 1], "prompt": str, "scene": its parameters,
    "object_mask": (F, H, W) bool, the pixels of any object}`` from ``seed``.

    A share ``empty_prompt_fraction`` of the prompts is empty, so that the model also learns the
    unconditional prediction that classifier-free guidance needs. With ``caption_noise`` > 0 each
    attribute of a prompt is misstated with that probability, and with ``binding_noise`` > 0 the objects'
    shapes are swapped with that probability (``scenes.miscaption``); ``"scene"`` stays the clip's truth.
    """

    def __init__(self, seed: int = 0, empty_prompt_fraction: float = 0.15, size: int = SIZE, frames: int = FRAMES,
                 caption_noise: float = 0.0, binding_noise: float = 0.0):
        if not 0.0 <= empty_prompt_fraction < 1.0:
            raise ValueError(f"empty_prompt_fraction={empty_prompt_fraction!r} must be in [0, 1)")
        if not 0.0 <= caption_noise <= 1.0:
            raise ValueError(f"caption_noise={caption_noise!r} must be in [0, 1]")
        if not 0.0 <= binding_noise <= 1.0:
            raise ValueError(f"binding_noise={binding_noise!r} must be in [0, 1]")
        self.seed, self.empty_prompt_fraction, self.size, self.frames = seed, empty_prompt_fraction, size, frames
        self.caption_noise, self.binding_noise = caption_noise, binding_noise

    def __iter__(self):
        worker = get_worker_info()
        rng = np.random.default_rng([self.seed, worker.id if worker else 0])
        while True:
            scene = random_scene(rng, self.size, self.frames)
            clip = torch.from_numpy(render(scene, self.size, self.frames)).permute(3, 0, 1, 2)
            caption = miscaption(scene, rng, self.caption_noise, self.binding_noise).prompt()
            prompt = "" if rng.random() < self.empty_prompt_fraction else caption
            mask = objects_mask(scene, self.size, self.frames)
            yield {"video": clip.float().div_(127.5).sub_(1.0), "prompt": prompt, "scene": scene.parameters(),
                   "object_mask": torch.from_numpy(mask)}


class WorldDataModule(L.LightningDataModule):
    """The world's training stream in batches.

    Args:
        batch_size: clips per batch.
        seed: the stream's seed.
        empty_prompt_fraction: share of empty prompts (unconditional training), 0.1 to 0.2 is usual.
        caption_noise: probability that a caption misstates each attribute (0: captions are the truth).
        binding_noise: probability that a caption swaps the two objects' shapes.
    """

    def __init__(self, batch_size: int = 32, seed: int = 0, empty_prompt_fraction: float = 0.15,
                 caption_noise: float = 0.0, binding_noise: float = 0.0):
        super().__init__()
        self.batch_size, self.seed, self.empty_prompt_fraction = batch_size, seed, empty_prompt_fraction
        self.caption_noise, self.binding_noise = caption_noise, binding_noise

    def train_dataloader(self) -> DataLoader:
        return DataLoader(WorldClips(self.seed, self.empty_prompt_fraction, caption_noise=self.caption_noise,
                                     binding_noise=self.binding_noise),
                          batch_size=self.batch_size)
