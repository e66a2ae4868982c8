"""What every model family provides, and resolving where its weights come from."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from samg_video.errors import ConfigurationError, ModelUnavailableError

TINY_SOURCE = "tiny"
# the pipelines' own guidance scale when a guidance object decides: any value > 1 turns their CFG passes on
PIPELINE_CFG_SWITCH = 2.0
TOY_SOURCE = "toy"
# the toy CogVideoX trained on the synthetic world (scripts/train_toy.py), shipped inside the package
TOY_MODEL_DIR = Path(__file__).resolve().parent.parent / "world" / "toy_model"
TOY_FAMILY = "cogvideox"
HUB_PROBE_TIMEOUT_S = 15
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Source:
    """Where a pipeline's weights come from: the ``tiny`` random model, a local directory or a hub id."""

    kind: str  # "tiny" | "toy" | "local" | "hub"
    location: str

    def config_of(self, component: str) -> dict[str, Any] | None:
        """A component's config.json when it is on local disk (read before any weights load)."""
        if self.kind not in ("local", "toy"):
            return None
        path = Path(self.location) / component / "config.json"
        return json.loads(path.read_text()) if path.is_file() else None


def resolve_source(source: str, family: str) -> Source:
    """Decide where weights come from, failing early (before loading) when that cannot work.

    A hub id already in the local Hugging Face cache resolves to its snapshot directory.
    """
    if source == TINY_SOURCE:
        return Source("tiny", source)
    expanded = os.path.expanduser(source)
    # the shipped toy model's own folder is the toy model: its size and family rules, not CogVideoX-2b's defaults
    if source == TOY_SOURCE or (os.path.isdir(expanded) and Path(expanded).resolve() == TOY_MODEL_DIR.resolve()):
        if family != TOY_FAMILY:
            raise ConfigurationError(f"model.source={TOY_SOURCE!r} is a {TOY_FAMILY} model; set model.family: "
                                     f"{TOY_FAMILY} (model.family is {family!r})")
        if not (TOY_MODEL_DIR / "model_index.json").is_file():
            raise ConfigurationError(f"model.source={TOY_SOURCE!r}: the toy model is not in {TOY_MODEL_DIR}; "
                                     "reinstall the package, or train it: python scripts/train_toy.py -c "
                                     "configs/training/toy_cogvideox.yaml")
        return Source("toy", str(TOY_MODEL_DIR))
    if os.path.isdir(expanded):
        if not os.path.isfile(os.path.join(expanded, "model_index.json")):
            raise ConfigurationError(
                f"model.source={source!r} is a directory without model_index.json; point it at a diffusers "
                "pipeline folder (as written by save_pretrained or downloaded from the hub)"
            )
        _check_safetensors(Path(expanded), source)
        return Source("local", expanded)
    if expanded.startswith(("/", ".", "~")) or expanded.count("/") != 1:
        raise ConfigurationError(
            f"model.source={source!r} is neither an existing directory nor a hub id of the form 'org/name' "
            f"nor {TINY_SOURCE!r} nor {TOY_SOURCE!r}"
        )
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        return Source("local", snapshot_download(source, local_files_only=True))
    except Exception:  # not cached: downloaded at load time, if the hub can be reached
        pass
    if _offline():
        raise ModelUnavailableError(unavailable_message(source, family, "offline mode is set"))
    try:  # a metadata request only, so an unreachable hub fails here, before anything is written
        HfApi().model_info(source, timeout=HUB_PROBE_TIMEOUT_S)
    except GatedRepoError:
        pass  # access is settled by the user's token at download time
    except RepositoryNotFoundError:
        raise ConfigurationError(f"model.source={source!r}: no such model on the Hugging Face hub") from None
    except Exception as error:
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise ModelUnavailableError(unavailable_message(source, family, reason)) from None
    return Source("hub", source)


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")


def _check_safetensors(directory: Path, source: str) -> None:
    """Refuse components whose weights exist only as pickle files: unpickling can run code."""
    for component in sorted(p for p in directory.iterdir() if (p / "config.json").is_file()):
        files = [f.name for f in component.iterdir() if f.is_file()]
        has_pickle = any(name.endswith(PICKLE_SUFFIXES) for name in files)
        if has_pickle and not any(name.endswith(".safetensors") for name in files):
            raise ConfigurationError(
                f"model.source={source!r}: {component.name}/ holds weights only as pickle files "
                f"({', '.join(n for n in files if n.endswith(PICKLE_SUFFIXES))}); samg-video loads safetensors "
                "only. Convert them where you trust the files, e.g. "
                "DiffusionPipeline.from_pretrained(DIR).save_pretrained(NEW_DIR, safe_serialization=True)"
            )


def unavailable_message(source: str, family: str, reason: str) -> str:
    return (
        f"cannot load the {family} model {source!r}: it is not in the local Hugging Face cache and could not "
        f"be downloaded ({reason}). Download it where there is network, e.g. "
        f"`hf download {source} --local-dir /path/to/{source.split('/')[-1]}`, "
        f"then set model.source to that directory (or use model.source: {TINY_SOURCE} for a random offline model)"
    )


def _offline() -> bool:
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DIFFUSERS_OFFLINE"))


def check_multiple(name: str, value: int, multiple: int, family: str) -> None:
    if not isinstance(value, int) or value <= 0 or value % multiple:
        raise ConfigurationError(
            f"model.{name}={value!r} cannot be produced by {family}: it must be a positive multiple of {multiple}"
        )


def check_frame_rule(num_frames: Any, step: int, highest: int, family: str, landmark: str = "") -> None:
    """``num_frames`` must be ``step * k + 1`` between ``step + 1`` and ``highest``: what a causal video VAE
    that keeps frame 0 and then one latent frame per ``step`` frames can produce. ``landmark`` names a length
    worth listing on the way (e.g. ``"81 (Wan 2.1)"``)."""
    lowest = step + 1
    listed = [lowest, lowest + step, lowest + 2 * step, "...", *([landmark, "..."] if landmark else []), highest]
    if not isinstance(num_frames, int) or not lowest <= num_frames <= highest or (num_frames - 1) % step:
        valid = f"{step}k+1 frames between {lowest} and {highest}: {', '.join(map(str, listed))}"
        raise ConfigurationError(f"model.num_frames={num_frames!r} cannot be produced by {family}: {valid}")


def load_pretrained(pipeline_class: type, source: Source, family: str, **kwargs: Any) -> Any:
    """``from_pretrained`` with safetensors only, no remote code, and a clear error when unavailable."""
    try:
        return pipeline_class.from_pretrained(source.location, use_safetensors=True, **kwargs)
    except OSError as error:
        if source.kind == "hub":
            reason = str(error).splitlines()[0][:200]
            raise ModelUnavailableError(unavailable_message(source.location, family, reason)) from error
        raise


class ModelFamily:
    """Model-family knowledge in one place: layout, size rules, loading, tiny construction."""

    name: str
    media = "video"  # "video", or "image": a one-frame clip written as PNG
    layout: str
    denoiser_attribute: str  # the pipeline attribute holding the denoiser
    extra_denoiser_attributes: tuple[str, ...] = ()  # further denoisers guided alike, where a pipeline has them
    # False: the pipeline calls the denoiser once on [uncond, cond]; True: twice per step, cond then uncond
    separate_guidance_calls = False
    # "hook": a forward hook on the denoiser; "guider": the pipeline's own guider component is replaced
    guidance_route = "hook"
    max_prompts_per_call: int | None = None  # where the stock pipeline fails on larger batches
    keeps_float32_prediction: bool  # whether the stock pipeline upcasts the prediction before combining
    pipeline_class_names: tuple[str, ...]
    schedulers: tuple[str, ...]  # the first is the default
    default_size: dict[str, int]  # height, width, num_frames, fps of the released model
    tiny_size: dict[str, int]  # the same for the tiny model
    toy_size: dict[str, int] | None = None  # the same for the toy model trained here, where the family has one

    def check_request(self, source: Source, height: int, width: int, num_frames: int) -> None:
        """Raise a ConfigurationError naming the field when the family cannot produce this clip."""
        raise NotImplementedError

    def load(self, source: Source, dtype: torch.dtype, scheduler: str, variant: str | None) -> Any:
        raise NotImplementedError

    def build_tiny(self, seed: int = 0) -> Any:
        raise NotImplementedError

    def with_scheduler(self, pipeline: Any, scheduler: str) -> Any:
        """The pipeline with its scheduler replaced by the named one, built from its own scheduler config."""
        scheduler_class = self.scheduler_classes()[scheduler]
        pipeline.scheduler = scheduler_class.from_config(pipeline.scheduler.config)
        return pipeline

    def scheduler_classes(self) -> dict[str, type]:
        raise NotImplementedError

    def call_arguments(self, pipeline: Any) -> dict[str, Any]:
        """Family-specific keyword arguments of the pipeline call."""
        return {}

    def guidance_arguments(self) -> dict[str, Any]:
        """Pipeline call arguments that make it run its classifier-free guidance passes; their value is not
        used (the guidance object sets the scale)."""
        return {"guidance_scale": PIPELINE_CFG_SWITCH}

    def size_arguments(self, num_frames: int) -> dict[str, Any]:
        """Pipeline call arguments for the clip length."""
        return {"num_frames": num_frames}

    def output_frames(self, output: Any) -> Any:
        """Per sample, the frames ``(F, H, W, 3)`` of a pipeline output made with ``output_type="np"``."""
        return output.frames

    def to_grid(self, prediction: torch.Tensor, kwargs: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        """The denoiser's prediction in the family's ``layout`` (``kwargs``: those of the denoiser call), and
        the function that brings a guided grid back to the prediction's own shape (None: it is that shape)."""
        return prediction, None

    def step_callback_arguments(self, observe: Any) -> dict[str, Any]:
        """Pipeline call arguments that make it call ``observe(step, latents)`` after every sampling step."""

        def on_step_end(pipeline: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            observe(step, tensors["latents"])
            return {}  # nothing replaced

        return {"callback_on_step_end": on_step_end, "callback_on_step_end_tensor_inputs": ["latents"]}


class ImageFamily(ModelFamily):
    """A text-to-image model: an image is a one-frame clip, latents ``(B, C, H, W)``, written as PNG."""

    media = "image"
    layout = "BCHW"
    keeps_float32_prediction = False  # the stock image pipelines combine in the denoiser's dtype
    spatial_multiple: int
    display_name: str

    def check_request(self, source: Source, height: int, width: int, num_frames: int) -> None:
        check_multiple("height", height, self.spatial_multiple, self.display_name)
        check_multiple("width", width, self.spatial_multiple, self.display_name)
        if num_frames != 1:
            raise ConfigurationError(f"model.num_frames={num_frames!r} cannot be produced by {self.display_name}: "
                                     "it makes images; leave num_frames unset (or 1)")

    def load(self, source: Source, dtype: torch.dtype, scheduler: str, variant: str | None) -> Any:
        pipeline = load_pretrained(self.pipeline_class(), source, self.name, dtype=dtype, variant=variant)
        return self.with_scheduler(pipeline, scheduler)

    def pipeline_class(self) -> type:
        import diffusers

        return getattr(diffusers, self.pipeline_class_names[0])

    def size_arguments(self, num_frames: int) -> dict[str, Any]:
        return {}

    def output_frames(self, output: Any) -> Any:
        return output.images[:, None]  # (B, H, W, 3) -> (B, 1, H, W, 3)
