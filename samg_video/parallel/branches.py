"""Computing only part of the guidance batch in a denoiser call, and putting the whole back together.

The pipelines that batch the two branches stack ``[uncond, cond]`` and call the denoiser once on the
doubled batch. ``BranchHook`` sits on that denoiser: a forward pre-hook cuts the call's batch tensors down
to the half it computes, and a forward hook, run before the guidance hook, rebuilds the doubled output
from that half, so the guidance and the pipeline downstream see what they always see:

- **CFG-parallel** (``pair`` set): the two ranks of a pair each compute one branch, ``uncond`` on the
  pair's first rank and ``cond`` on its second, and all-gather the two over the pair's process group.
  Every rank then holds both predictions and combines them the same way, so the latents stay identical on
  the pair's ranks and SAMG's normalisation and smoothing see the whole clip.
- **Cached guidance** (``cache_interval`` k > 1): inside the window, only every k-th step runs both
  branches; the steps between run the conditional branch alone and take ``uncond = cond - delta`` with
  the last computed ``delta = cond - uncond``. Any guidance then combines from that delta; SAMG computes
  its map from it.

A tensor argument is a batch tensor when its first dimension is the call's doubled batch (``hidden_states``
or the first positional argument); timesteps given as one value, rotary embeddings (tuples) and options
pass as they are.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from samg_video.errors import ConfigurationError

# the attribute of a denoiser that holds its branch hook
BRANCH_HOOK_ATTRIBUTE = "_samg_video_branch_hook"


class BranchHook:
    """Computes one half of the doubled batch where it can, and hands the guidance the whole.

    Args:
        pipeline: the pipeline whose scheduler numbers the steps (held weakly).
        pair: the process group of this rank and its partner (CFG-parallel), or None.
        cache_interval: k: inside ``cache_window`` only every k-th step computes the unconditional branch
            (1: every step).
        cache_window: ``(start, end)`` fractions of the sampling steps where caching applies.
    """

    def __init__(self, pipeline: Any, pair: Any = None, cache_interval: int = 1,
                 cache_window: tuple[float, float] = (0.0, 1.0)):
        from samg_video.guided_pipelines import (
            StepCounter,  # the guidance hook's own step numbering
        )

        check_cache_options(cache_interval, cache_window)
        if pair is not None and cache_interval > 1:
            raise ConfigurationError("model.cfg_parallel=2 and model.guidance_cache_interval > 1 cannot be combined: "
                                     "on a cached step the pair's unconditional rank would have nothing to compute")
        self.pair = pair
        self.cache_interval, self.cache_window = cache_interval, tuple(cache_window)
        self._pipeline = weakref.ref(pipeline)
        self.steps = StepCounter(lambda: self._pipeline().scheduler)
        self._delta: torch.Tensor | None = None
        self._call: tuple[int, int | None] | None = None  # (doubled batch, the half computed or None)
        self.rows_computed = 0  # batch rows the denoiser computed, over all calls: what the branches cost
        self.calls = 0
        self.handles: list[Any] = []

    # ---- which half this call computes --------------------------------------------------------------------
    def _half(self) -> int | None:
        """0 (uncond), 1 (cond) or None (both) for the next call."""
        step = self.steps.next(None)
        if step.index == 0:
            self._delta = None  # a new sampling loop: nothing cached from the last one
        if self.pair is not None:
            return torch.distributed.get_rank(self.pair)
        if self.cache_interval == 1:
            return None
        start, end = self.cache_window
        position = step.index / step.count
        first_in_window = next((i for i in range(step.count) if i / step.count >= start), step.count)
        cached = start <= position < end and (step.index - first_in_window) % self.cache_interval != 0
        return 1 if cached and self._delta is not None else None

    def before(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict]:
        sample = kwargs.get("hidden_states", kwargs.get("sample", args[0] if args else None))
        doubled = sample.shape[0]
        if doubled % 2:
            raise RuntimeError("CFG-parallel and cached guidance need the pipeline's classifier-free guidance "
                               "batch: call the pipeline with guidance_scale > 1")
        half = self._half()
        self._call = (doubled, half)
        self.calls += 1
        self.rows_computed += doubled if half is None else doubled // 2
        if half is None:
            return args, kwargs
        rows = slice(half * doubled // 2, (half + 1) * doubled // 2)

        def cut(value: Any) -> Any:
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == doubled:
                return value[rows]
            return value

        return tuple(cut(value) for value in args), {name: cut(value) for name, value in kwargs.items()}

    def after(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> Any:
        prediction = output[0] if isinstance(output, tuple) else output.sample
        _, half = self._call
        if half is None:
            whole = prediction
            if self.cache_interval > 1:
                uncond, cond = whole.chunk(2)
                self._delta = cond - uncond
        elif self.pair is not None:
            parts = [torch.empty_like(prediction) for _ in range(2)]
            torch.distributed.all_gather(parts, prediction.contiguous(), group=self.pair)
            whole = torch.cat(parts)
        else:
            whole = torch.cat([prediction - self._delta, prediction])
        if isinstance(output, tuple):
            return (whole, *output[1:])
        return type(output)(sample=whole)


def check_cache_options(interval: Any, window: Any) -> None:
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
        raise ConfigurationError(f"model.guidance_cache_interval={interval!r} is not valid; it must be a whole "
                                 "number >= 1 (1: no caching)")
    if (not isinstance(window, (tuple, list)) or len(window) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in window)
            or not 0.0 <= window[0] < window[1] <= 1.0):
        shown = list(window) if isinstance(window, tuple) else window  # as the YAML writes it
        raise ConfigurationError(f"model.guidance_cache_window={shown!r} is not valid; it must be [start, end] "
                                 "with 0 <= start < end <= 1 (fractions of the sampling steps)")


def check_batched_branches(family: Any, option: str) -> None:
    """Refuse ``option`` for a family whose pipeline does not compute both branches in one denoiser call."""
    if family.separate_guidance_calls or family.guidance_route != "hook":
        how = "calls its denoiser once per branch" if family.separate_guidance_calls else "combines through a guider"
        batched = ", ".join(sorted(name for name, f in _families().items()
                                   if not f.separate_guidance_calls and f.guidance_route == "hook"))
        raise ConfigurationError(f"{option} needs a pipeline that computes both branches in one denoiser call; "
                                 f"{family.name}'s {how}. It works for: {batched}")


def _families() -> dict[str, Any]:
    from samg_video.families import FAMILIES

    return FAMILIES


def enable_branch_hook(pipeline: Any, pair: Any = None, cache_interval: int = 1,
                       cache_window: tuple[float, float] = (0.0, 1.0)) -> BranchHook:
    """Install a ``BranchHook`` on the pipeline's denoiser (replacing one installed before) and return it.

    Runs before any guidance hook, whenever either was installed.
    """
    from samg_video.families import family_of_pipeline

    family = family_of_pipeline(pipeline)
    check_batched_branches(family, "model.cfg_parallel" if pair is not None else "model.guidance_cache_interval")
    disable_branch_hook(pipeline)
    denoiser = getattr(pipeline, family.denoiser_attribute)
    hook = BranchHook(pipeline, pair, cache_interval, cache_window)
    hook.handles = [denoiser.register_forward_pre_hook(hook.before, with_kwargs=True),
                    denoiser.register_forward_hook(hook.after, with_kwargs=True, prepend=True)]
    setattr(denoiser, BRANCH_HOOK_ATTRIBUTE, hook)
    return hook


def disable_branch_hook(pipeline: Any) -> None:
    from samg_video.families import family_of_pipeline

    denoiser = getattr(pipeline, family_of_pipeline(pipeline).denoiser_attribute)
    hook = getattr(denoiser, BRANCH_HOOK_ATTRIBUTE, None)
    if hook is not None:
        for handle in hook.handles:
            handle.remove()
        delattr(denoiser, BRANCH_HOOK_ATTRIBUTE)
