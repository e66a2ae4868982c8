"""The parallel and cache options of the rendering module, checked before any weights load."""

from __future__ import annotations

from typing import Any

from samg_video.errors import ConfigurationError
from samg_video.parallel.branches import check_batched_branches, check_cache_options
from samg_video.parallel.context import check_context_parallel_family


def _whole(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(f"model.{name}={value!r} is not valid; it must be a whole number >= 1")


def check_parallel_options(family: Any, cfg_parallel: Any, context_parallel: Any, cache_interval: Any,
                           cache_window: Any) -> None:
    """Refuse, naming the field and its valid values, what cannot run for ``family``."""
    if cfg_parallel not in (1, 2) or isinstance(cfg_parallel, bool):
        raise ConfigurationError(f"model.cfg_parallel={cfg_parallel!r} is not valid; choose 1 (off) or 2 "
                                 "(ranks in pairs, one branch each)")
    _whole("context_parallel", context_parallel)
    check_cache_options(cache_interval, cache_window)
    if cfg_parallel > 1:
        check_batched_branches(family, "model.cfg_parallel")
    if cache_interval > 1:
        check_batched_branches(family, "model.guidance_cache_interval")
    if cfg_parallel > 1 and cache_interval > 1:
        raise ConfigurationError("model.cfg_parallel=2 and model.guidance_cache_interval > 1 cannot be combined: on "
                                 "a cached step the pair's unconditional rank would have nothing to compute")
    if cfg_parallel > 1 and context_parallel > 1:
        raise ConfigurationError("model.cfg_parallel and model.context_parallel cannot be combined yet; choose one")
    if context_parallel > 1:
        check_context_parallel_family(family)
