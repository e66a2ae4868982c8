"""Short, complete names of guidance settings for reports: the class, its scales, and every other option
that differs from the class's default (two settings never read the same unless they are the same)."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

# shown always, in this order, bare: what a reader compares first
SCALES = ("scale", "w_min", "w_max")


def option_defaults(class_path: str) -> dict[str, Any] | None:
    """The constructor defaults of the guidance class at ``class_path``; None when it cannot be imported."""
    module_name, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return None
    return {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.default is not inspect.Parameter.empty}


def guidance_label(guidance: Any) -> str:
    """``SAMG(w_min=2.0, w_max=5.0, normalization=quantile)`` for a ``{"class_path", "init_args"}`` setting;
    ``mixed`` or ``unknown`` as a run summary says them. Options of a class that cannot be imported are all
    shown."""
    if not isinstance(guidance, dict):
        return str(guidance or "unknown")
    class_path = str(guidance.get("class_path", "?"))
    arguments = dict(guidance.get("init_args") or {})
    defaults = option_defaults(class_path)
    shown = {key: arguments.pop(key) for key in SCALES if key in arguments}
    for key, value in arguments.items():
        if defaults is None or key not in defaults or not _same(value, defaults[key]):
            shown[key] = value
    return f"{class_path.rsplit('.', 1)[-1]}({', '.join(f'{k}={_text(v)}' for k, v in shown.items())})"


def _same(value: Any, default: Any) -> bool:
    # JSON gives lists where a default is a tuple, and 1 where it is 1.0
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return len(value) == len(default) and all(_same(v, d) for v, d in zip(value, default))
    if isinstance(value, bool) or isinstance(default, bool):  # True == 1, but they are not the same option
        return value is default
    return value == default


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)
