"""The LightningModule that renders clips: holds a diffusers pipeline with a guidance method applied."""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import numpy as np
import torch
from lightning.pytorch import LightningModule

from samg_video.errors import ConfigurationError, RunStopped
from samg_video.families import DTYPES, get_family, resolve_source
from samg_video.guidance.base import Guidance
from samg_video.guided_pipelines import apply_guidance
from samg_video.modules.nonfinite import NonFiniteWatch, nonfinite_reason
from samg_video.parallel.branches import enable_branch_hook
from samg_video.parallel.context import check_context_parallel_device, enable_context_parallel
from samg_video.parallel.options import check_parallel_options
from samg_video.parallel.groups import GroupState, follows_its_group, make_rank_groups, receive_batch, send_batch

log = logging.getLogger(__name__)

# a batch whose pipeline call raises is rendered again clip by clip, so that one bad prompt fails only its
# own clip; this many failed calls in a row is no bad clip but a broken setup, and stops the run
MAX_FAILED_BATCHES_IN_A_ROW = 3
# far beyond what the families render well, and still refused before a run that would take hours per clip
MAX_SIDE, MAX_FRAMES = 4096, 1024


def check_size_limits(height: Any, width: Any, num_frames: Any) -> None:
    for name, value, limit in (("height", height, MAX_SIDE), ("width", width, MAX_SIDE),
                               ("num_frames", num_frames, MAX_FRAMES)):
        if isinstance(value, int) and not isinstance(value, bool) and value > limit:
            raise ConfigurationError(f"model.{name}={value} is too large; samg-video renders at most {limit} "
                                     f"{'frames' if name == 'num_frames' else 'pixels'}")


def unencodable_text(item: dict[str, Any]) -> str | None:
    """Why the item's prompt cannot reach a tokenizer (a lone surrogate is valid JSON, not valid UTF-8)."""
    for field in ("prompt", "negative_prompt"):
        text = item.get(field) or ""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            return (f"the {field.replace('_', ' ')} is not valid Unicode text: a lone surrogate "
                    f"U+{ord(text[error.start]):04X} at character {error.start}")
    return None


class VideoGenerator(LightningModule):
    """Renders a batch of prompts per ``predict_step`` with a diffusers pipeline and a guidance method.

    Image families render one-frame clips (written as PNG by ``ClipWriter``).

    Args:
        guidance: how the unconditional and conditional predictions are combined, e.g.
            ``samg_video.guidance.SAMG`` or ``samg_video.guidance.CFG``.
        family: the model family: ``cogvideox``, ``modelscope`` or ``ltx`` (video); ``sd15``, ``sdxl`` or ``sd35``
            (images).
        source: a hub id (``THUDM/CogVideoX-2b``), a local pipeline directory, ``toy`` for the CogVideoX
            trained on the synthetic world and shipped with the package (32x32, 9 frames; see
            ``samg_video/world``), or ``tiny`` for a small model with seeded random weights (tests).
        height: frame height in pixels (family default when unset).
        width: frame width in pixels (family default when unset).
        num_frames: frames per clip (family default when unset; image families make one).
        fps: frame rate written into the clips (family default when unset; unset for images).
        num_inference_steps: sampling steps.
        scheduler: CogVideoX and ModelScope: ``ddim`` (default) or ``dpm``; LTX-Video: ``flow_euler``;
            SD 1.5: ``pndm`` (default), ``ddim``, ``dpm``, ``euler``; SDXL: ``euler`` (default), ``ddim``,
            ``dpm``, ``pndm``; SD 3.5: ``flow_euler``.
        dtype: weights dtype: ``float32``, ``float16`` or ``bfloat16``.
        variant: weights variant on the hub, e.g. ``fp16`` (unset: the default weights).
        negative_prompt: negative prompt for items that do not set their own.
        enable_model_cpu_offload: keep each component on the CPU until it runs (large models on small GPUs).
        vae_tiling: decode the latents in tiles to save memory.
        vae_slicing: decode one clip of the batch at a time to save memory.
        cfg_parallel: 2 runs the ranks in pairs, each pair rendering its clips together: one rank computes
            the unconditional branch, the other the conditional one, and both combine the all-gathered
            predictions (``trainer.devices`` x nodes must be even). 1 (default): each rank renders its
            own clips. For the families whose pipeline computes both branches in one denoiser call.
        context_parallel: N > 1 splits each denoiser call's sequence over N ranks with diffusers' context
            parallelism (Ulysses attention), for the families whose diffusers transformer supports it,
            on CUDA GPUs; groups of N ranks render their clips together, the groups split the clips.
        guidance_cache_interval: k > 1 computes the unconditional branch only every k-th step inside
            ``guidance_cache_window``, reusing the last ``cond - uncond`` in between (guidance, SAMG's map
            too, then reads that delta). 1 (default): every step.
        guidance_cache_window: ``[start, end]`` fractions of the sampling steps where the cache applies.
    """

    def __init__(
        self,
        guidance: Guidance,
        family: str = "cogvideox",
        source: str = "tiny",
        height: int | None = None,
        width: int | None = None,
        num_frames: int | None = None,
        fps: int | None = None,
        num_inference_steps: int = 50,
        scheduler: str | None = None,
        dtype: Literal["float32", "float16", "bfloat16"] = "float32",
        variant: str | None = None,
        negative_prompt: str = "",
        enable_model_cpu_offload: bool = False,
        vae_tiling: bool = False,
        vae_slicing: bool = False,
        cfg_parallel: int = 1,
        context_parallel: int = 1,
        guidance_cache_interval: int = 1,
        guidance_cache_window: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__()
        if not isinstance(guidance, Guidance):
            raise ConfigurationError(f"model.guidance must be a guidance object such as "
                                     f"samg_video.guidance.SAMG, not {type(guidance).__name__}")
        self.family = get_family(family)
        scheduler = scheduler or self.family.schedulers[0]
        if scheduler not in self.family.schedulers:
            raise ConfigurationError(f"model.scheduler={scheduler!r} is not valid for {family}; choose one of "
                                     f"{', '.join(self.family.schedulers)}")
        if dtype not in DTYPES:
            raise ConfigurationError(f"model.dtype={dtype!r} is not valid; choose one of {', '.join(DTYPES)}")
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ConfigurationError(f"model.num_inference_steps={num_inference_steps!r} is not valid; "
                                     "it must be a whole number >= 1")
        # checked before any weights load: where they come from, and whether the family can make this clip
        self.source = resolve_source(source, family)
        defaults = {"tiny": self.family.tiny_size, "toy": self.family.toy_size}.get(self.source.kind,
                                                                                   self.family.default_size)
        # unset means the default; 0 is a value, and refused below
        self.height = defaults["height"] if height is None else height
        self.width = defaults["width"] if width is None else width
        self.num_frames = defaults["num_frames"] if num_frames is None else num_frames
        self.fps = defaults["fps"] if fps is None else fps
        check_size_limits(self.height, self.width, self.num_frames)
        if self.family.media == "image":
            if fps is not None:
                raise ConfigurationError(f"model.fps={fps!r} does not apply: {family} makes images; leave it unset")
        elif not isinstance(self.fps, int) or self.fps < 1:
            raise ConfigurationError(f"model.fps={fps!r} is not valid; it must be a whole number >= 1")
        self.family.check_request(self.source, self.height, self.width, self.num_frames)
        check_parallel_options(self.family, cfg_parallel, context_parallel, guidance_cache_interval,
                               guidance_cache_window)
        self.cfg_parallel, self.context_parallel = cfg_parallel, context_parallel
        self.guidance_cache_interval = guidance_cache_interval
        self.guidance_cache_window = tuple(guidance_cache_window)
        self.group_state: GroupState | None = None

        self.guidance = guidance
        self.source_name = source
        self.num_inference_steps = num_inference_steps
        self.scheduler_name = scheduler
        self.dtype_name = dtype
        self.variant = variant
        self.negative_prompt = negative_prompt
        self.enable_model_cpu_offload = enable_model_cpu_offload
        self.vae_tiling = vae_tiling
        self.vae_slicing = vae_slicing
        self.pipeline: Any = None
        self.failed_batches_in_a_row = 0

    # ---- ranks ---------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Every rank, once the process group is up: the groups of ranks that render clips together (pairs
        of CFG-parallel, groups of context parallelism), made by all ranks together."""
        if self.cfg_parallel == 1 and self.context_parallel == 1:
            return
        self.check_ranks(self.trainer.world_size, self.trainer.strategy.root_device)
        group = max(self.cfg_parallel, self.context_parallel)
        self.group_state = GroupState(make_rank_groups(group))

    def check_ranks(self, world: int, device: torch.device) -> None:
        """Refuse a run whose rank count the groups of CFG- or context-parallel do not divide, or context
        parallelism off CUDA (the CLI asks before anything is written)."""
        group = max(self.cfg_parallel, self.context_parallel)
        option = "cfg_parallel" if self.cfg_parallel > 1 else "context_parallel"
        if group > 1 and (world < group or world % group):
            raise ConfigurationError(f"model.{option}={group} needs a number of ranks (trainer.devices x "
                                     f"trainer.num_nodes) that is a multiple of {group}; this run has {world}")
        if self.context_parallel > 1:
            check_context_parallel_device(device)

    # ---- loading -------------------------------------------------------------------------------
    def configure_model(self) -> None:
        """Load the pipeline once; Lightning calls this on every rank before moving the module.

        When no clip is left to render (all complete in the output folder), no rank loads weights:
        checking a finished run costs no model loading. (A rank with no clip while others have some
        still loads: DDP's setup broadcasts the module's parameters, which must match on every rank.)"""
        if self.pipeline is not None:
            return
        items = getattr(self._trainer.datamodule, "items", None) if self._trainer is not None else None
        if items is not None and len(items) == 0:  # the writer has said so
            return
        self.load_pipeline()

    def load_pipeline(self) -> None:
        if self.source.kind == "tiny":
            pipeline = self.family.with_scheduler(self.family.build_tiny(seed=0), self.scheduler_name)
            if self.dtype_name != "float32":
                pipeline.to(DTYPES[self.dtype_name])
        else:
            pipeline = self.family.load(self.source, DTYPES[self.dtype_name], self.scheduler_name, self.variant)
        if self.vae_tiling:
            pipeline.vae.enable_tiling()
        if self.vae_slicing:
            pipeline.vae.enable_slicing()
        apply_guidance(pipeline, self.guidance)
        if self.cfg_parallel > 1 or self.guidance_cache_interval > 1:
            enable_branch_hook(pipeline, self.group_state.group if self.cfg_parallel > 1 else None,
                               self.guidance_cache_interval, self.guidance_cache_window)
        if self.context_parallel > 1:
            enable_context_parallel(pipeline, self.context_parallel)
        device = self.trainer.strategy.root_device if self._trainer is not None else torch.device("cpu")
        offload = self.enable_model_cpu_offload and device.type != "cpu"
        if self.enable_model_cpu_offload and not offload:
            log.warning("model.enable_model_cpu_offload is ignored when rendering on the CPU")
        if offload:
            # the offload hooks move each component to the device only while it runs
            pipeline.enable_model_cpu_offload(device=device)
        else:
            # registered as submodules so that Lightning moves them to this rank's device
            self.components = torch.nn.ModuleDict(
                {name: part for name, part in pipeline.components.items() if isinstance(part, torch.nn.Module)}
            )
        for part in pipeline.components.values():
            if isinstance(part, torch.nn.Module):
                part.requires_grad_(False).eval()
        is_zero = self._trainer is None or self.trainer.is_global_zero
        # per-step bar below the clips bar, on rank 0 only, cleared after each batch
        # (not into log files, where each redraw would be a line)
        pipeline.set_progress_bar_config(disable=not is_zero or not sys.stderr.isatty(), leave=False,
                                         desc="denoising", position=1)
        self.pipeline = pipeline

    # ---- rendering -----------------------------------------------------------------------------
    def render(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Render one clip per item; a clip depends only on its item's prompt and seed.

        A clip that cannot be kept comes back as ``{"item": ..., "failure": reason}`` instead of frames:
        its prompt is no text a tokenizer takes, its latents or frames turned NaN/Inf, or the pipeline call
        raised (for a batch, each clip is then tried alone, so a bad prompt fails only its own clip).
        """
        if not items:  # every clip of the batch is another run's (see ClipWriter)
            return []
        if self.pipeline is None:
            self.load_pipeline()
        refused = {id(item): unencodable_text(item) for item in items}
        renderable = [item for item in items if refused[id(item)] is None]
        rendered = iter(self._render_batch(renderable) if renderable else [])
        return [next(rendered) if refused[id(item)] is None else {"item": item, "failure": refused[id(item)]}
                for item in items]

    def _render_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = self.family.max_prompts_per_call
        if limit is not None and len(items) > limit:  # a pipeline that fails on larger batches: call it per chunk
            return [clip for start in range(0, len(items), limit) for clip in self._render_batch(items[start:start + limit])]
        # one CPU generator per item: the noise is the same on any device, rank and batch composition
        generators = [torch.Generator("cpu").manual_seed(int(item["seed"])) for item in items]
        negative_prompts = [item.get("negative_prompt") or self.negative_prompt for item in items]
        watch = NonFiniteWatch()
        try:
            output = self.pipeline(
                prompt=[item["prompt"] for item in items],
                # none given is the stock call: SDXL then uses zero embeddings rather than encoding ""
                negative_prompt=negative_prompts if any(negative_prompts) else None,
                height=self.height,
                width=self.width,
                **self.family.size_arguments(self.num_frames),
                num_inference_steps=self.num_inference_steps,
                **self.family.guidance_arguments(),
                generator=generators,
                output_type="np",
                **self.family.call_arguments(self.pipeline),
                **self.family.step_callback_arguments(watch.observe),
            )
        except Exception as error:
            if len(items) > 1:  # counted below, by the calls of its clips alone
                log.warning("a batch of %d clips failed (%s: %s); rendering them one by one", len(items),
                            type(error).__name__, error)
                return [clip for item in items for clip in self._render_batch([item])]
            self.failed_batches_in_a_row += 1
            if self.failed_batches_in_a_row >= MAX_FAILED_BATCHES_IN_A_ROW:
                raise RunStopped(f"rendering failed for {self.failed_batches_in_a_row} batches in a row; "
                                 f"stopping. Last error: {type(error).__name__}: {error}") from error
            reason = f"rendering failed: {type(error).__name__}: {error}"
            return [{"item": item, "failure": reason} for item in items]
        self.failed_batches_in_a_row = 0
        statistics = self.guidance.statistics()
        scale_maps = self.guidance.mean_scale_maps()  # None unless a ScaleMapWriter asked for them
        model, guidance = self.describe(), self.guidance.describe()
        first_bad_steps = watch.first_steps()
        rendered = self.family.output_frames(output)
        # SD 1.5's released safety checker replaces flagged images by black ones: the JSON says so
        flagged = getattr(output, "nsfw_content_detected", None)
        clips = []
        for i, item in enumerate(items):
            reason = nonfinite_reason(rendered[i], first_bad_steps[i] if first_bad_steps else None,
                                      self.num_inference_steps)
            if reason is not None:
                clips.append({"item": item, "failure": reason})
                continue
            frames = np.clip(np.round(rendered[i] * 255.0), 0, 255).astype(np.uint8)
            clips.append({
                "item": item,
                "frames": frames,  # (F, H, W, 3) uint8 RGB
                "media": self.family.media,
                "fps": self.fps,
                "frames_origin": "in memory, before encoding",
                "model": model,
                "guidance": guidance,
                "guidance_statistics": statistics[i] if i < len(statistics) else None,
            })
            if scale_maps is not None:
                clips[-1]["scale_map"] = scale_maps[i].numpy()  # (latent frames, rows, columns)
            if flagged is not None:
                clips[-1]["safety_checker_flagged"] = bool(flagged[i])
        return clips

    def predict_step(self, batch: list[dict[str, Any]], batch_idx: int, dataloader_idx: int = 0) -> list[dict]:
        state = self.group_state
        if state is None:
            return self.render(batch)
        if not follows_its_group(self.trainer):
            send_batch(batch, state.group)  # the clips this rank claimed: its group renders them with it
            try:
                return self.render(batch)
            except RunStopped:
                send_batch(None, state.group)  # the followers stop waiting for batches
                state.leader_done = True
                raise
        if state.leader_done:  # a placeholder the loader fetched ahead
            return []
        leaders_batch = receive_batch(state.group)
        if leaders_batch is None:
            state.leader_done = True
            return []
        self.render(leaders_batch)  # computed with the leader, which keeps and writes the clips
        return []

    def on_predict_epoch_end(self) -> None:
        state = self.group_state
        if state is not None and not follows_its_group(self.trainer) and not state.leader_done:
            send_batch(None, state.group)  # after the last step: the followers' streams end

    def clip_settings(self) -> dict[str, Any]:
        """The fields every clip's JSON shares in this run; a re-run resumes only clips that match them."""
        return {"num_frames": self.num_frames, "height": self.height, "width": self.width, "fps": self.fps,
                "model": self.describe(), "guidance": self.guidance.describe()}

    def describe(self) -> dict[str, Any]:
        """The model settings recorded with every clip."""
        return {
            "family": self.family.name,
            "source": self.source_name,
            "scheduler": self.scheduler_name,
            "num_inference_steps": self.num_inference_steps,
            "dtype": self.dtype_name,
            "variant": self.variant,
            # only where set: a clip made without the cache is the clip it always was, and resumes so
            **({"guidance_cache_interval": self.guidance_cache_interval,
                "guidance_cache_window": list(self.guidance_cache_window)}
               if self.guidance_cache_interval > 1 else {}),
        }
