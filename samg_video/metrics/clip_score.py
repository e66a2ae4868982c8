"""Prompt alignment: CLIP score, as torchmetrics' ``CLIPScore`` defines it (Hessel et al. 2021, "CLIPScore").

Per frame ``100 * max(cos(E_image, E_text), 0)`` with CLIP's image and text embeddings (the paper's
reference-free CLIP-S weighs by 2.5 instead of 100); for a clip, the mean over its frames, as EvalCrafter
and most video-guidance papers average per-frame CLIP similarity. The embeddings come from transformers'
``CLIPModel`` and ``CLIPProcessor`` and are computed as torchmetrics computes them (the processor on the
uint8 frames; the tokens cut at the text encoder's length, 77 for the released models), so each
per-frame value equals ``torchmetrics.multimodal.CLIPScore`` on that frame and prompt.

The model is a hub id (default ``openai/clip-vit-large-patch14``, as torchmetrics) or a local directory,
read as safetensors from the directory or the Hugging Face cache, never downloaded here: without the
weights the metric is unavailable, with the reason.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samg_video.metrics.frames import MetricResult, check_frames

log = logging.getLogger(__name__)

DEFAULT_CLIP_MODEL = "openai/clip-vit-large-patch14"
FRAMES_PER_BATCH = 16


def locate_clip_model(model: str) -> tuple[str | None, str | None]:
    """The local directory of ``model`` (a directory, or a hub id in the Hugging Face cache), or why not."""
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        return str(candidate), None
    if model.startswith(("/", ".", "~")) or model.count("/") != 1:
        return None, f"clip_model={model!r} is neither a local directory nor a hub id of the form 'org/name'"
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(model, local_files_only=True), None
    except Exception:
        return None, (f"the CLIP model {model!r} is not in the local Hugging Face cache and is not downloaded "
                      f"here; fetch it where there is network (hf download {model}) or set clip_model to a "
                      "local directory")


class CLIPScorer:
    """CLIP score of a clip's frames against its prompt.

    Args:
        model: hub id or local directory of a transformers CLIP model (safetensors).
        device: where CLIP runs.
        every_k_frames: score frames ``0, k, 2k, ...`` only (1: every frame), to save time on long clips.

    ``available`` says whether the metric can be computed and ``reason`` why not (one warning, at load).
    """

    def __init__(self, model: str = DEFAULT_CLIP_MODEL, device: str | torch.device = "cpu", every_k_frames: int = 1):
        self.model_name, self.every_k_frames, self.device = model, every_k_frames, torch.device(device)
        self.model: Any = None
        self.processor: Any = None
        directory, self.reason = locate_clip_model(model)
        if directory is not None:
            try:
                self.model, self.processor = load_clip(directory)
                self.model.to(self.device)
            except (OSError, ValueError) as error:  # no safetensors, an incomplete folder
                self.reason = f"the CLIP model at {directory} cannot be loaded: {str(error).splitlines()[0][:200]}"
        if self.reason is not None:
            log.warning("clip_score is unavailable and will be reported as null: %s", self.reason)

    @classmethod
    def from_model(cls, model: Any, processor: Any, name: str, every_k_frames: int = 1) -> "CLIPScorer":
        """A scorer around a CLIP model and processor already in memory (``name`` is what records show)."""
        scorer = cls.__new__(cls)
        scorer.model_name, scorer.every_k_frames = name, every_k_frames
        scorer.model, scorer.processor, scorer.reason = model.eval(), processor, None
        scorer.device = next(model.parameters()).device
        return scorer

    @property
    def available(self) -> bool:
        return self.reason is None

    @torch.inference_mode()
    def __call__(self, frames: Any, prompt: str) -> MetricResult:
        if not self.available:
            raise RuntimeError(f"clip_score is unavailable: {self.reason}")
        frames = check_frames(frames, min_frames=1)
        indices = list(range(0, len(frames), self.every_k_frames))
        text = self._text_features(prompt)
        values: list[float] = []
        for start in range(0, len(indices), FRAMES_PER_BATCH):
            chunk = [torch.from_numpy(frames[i]).permute(2, 0, 1) for i in indices[start:start + FRAMES_PER_BATCH]]
            pixels = self.processor(images=chunk, return_tensors="pt", padding=True)["pixel_values"]
            image = projected(self.model.get_image_features(pixels.to(self.device)))
            image = image / image.norm(p=2, dim=-1, keepdim=True)
            cosine = (image * text).sum(dim=-1)
            values += (100 * cosine).clamp(min=0).float().cpu().tolist()
        return MetricResult(value=float(np.mean(values)), per_pair=[], per_frame=values,
                            details={"clip_model": self.model_name, "clip_frames": indices})

    def _text_features(self, prompt: str) -> torch.Tensor:
        processed = self.processor(text=[prompt], return_tensors="pt", padding=True)
        # cut at the text encoder's length, as torchmetrics does
        length = self.model.config.text_config.max_position_embeddings
        ids, mask = processed["input_ids"][..., :length], processed["attention_mask"][..., :length]
        text = projected(self.model.get_text_features(ids.to(self.device), mask.to(self.device)))
        return text / text.norm(p=2, dim=-1, keepdim=True)


def projected(features: Any) -> torch.Tensor:
    """The projected embeddings: transformers 4 returns them as a tensor, 5 as the pooled output of a model
    output (which torchmetrics 1.9 does not unwrap)."""
    return features if isinstance(features, torch.Tensor) else features.pooler_output


def load_clip(directory: str) -> tuple[Any, Any]:
    """A CLIP model (safetensors only, no remote code) and its processor from a local directory."""
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(directory, use_safetensors=True, local_files_only=True).eval()
    processor = CLIPProcessor.from_pretrained(directory, local_files_only=True)
    return model, processor
