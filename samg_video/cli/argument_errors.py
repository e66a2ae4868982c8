"""One line out of jsonargparse's nested parse errors: the field, what is wrong, and the valid values."""

from __future__ import annotations

import inspect
import re

from samg_video.cli.help import guidance_classes, import_class

# class paths of earlier versions, and where the classes live now
MOVED_CLASS_PATHS = {
    "samg_video.module.VideoGenerator": "samg_video.modules.VideoGenerator",
    "samg_video.evaluation.ClipEvaluator": "samg_video.modules.ClipEvaluator",
    "samg_video.writer.ClipWriter": "samg_video.callbacks.ClipWriter",
    "samg_video.clip_metrics.ClipMetrics": "samg_video.callbacks.ClipMetrics",
    "samg_video.scale_maps.ScaleMapWriter": "samg_video.callbacks.ScaleMapWriter",
    "samg_video.progress.ClipProgressBar": "samg_video.callbacks.ClipProgressBar",
}
NOISE = ("Does not validate against any", "Subtypes:", "Errors:", "Given value type:",
         "- Expected a <class 'NoneType'>")


def explain_argument_error(text: str) -> str:
    """One line naming the field and the valid values; see ``_condense``."""
    message = _condense(text)
    message = re.sub(r"[Ee]xpected a <class '([\w.]+)'>", r"expected \1", message)  # <class 'int'> -> int
    return re.sub(r"[Ee]xpected a typing\.Literal\[([^\]]*)\]", r"expected one of \1", message)


def _condense(text: str) -> str:
    """Condense a jsonargparse error such as

        Parser key "model": ... Problem with given class_path 'samg_video.modules.VideoGenerator':
            Parser key "guidance": Problem with given class_path 'samg_video.guidance.SAMG':
                Option 'w_mid' is not accepted

    into ``model.guidance: samg_video.guidance.SAMG has no option 'w_mid'; its options: w_min, ...``.
    """
    lines = [line.strip().removeprefix("- ") for line in text.splitlines() if line.strip()]
    keys = [m.group(1) for line in lines if (m := re.match(r'Parser key "([^"]+)":', line))]
    classes = [m.group(1) for line in lines if (m := re.match(r"Problem with given class_path '([^']+)':", line))]
    reasons = [line for line in lines
               if not line.startswith(("Parser key", "Problem with given class_path")) and not line.startswith(NOISE)]
    given = next((m.group(1) for line in lines if (m := re.match(r"Given value: (.*)", line))), None)
    field = ".".join(keys)
    if not reasons:
        return text.splitlines()[0] if text else "invalid arguments"
    reason = reasons[0]
    if (m := re.match(r"Option '([^']+)' is not accepted", reason)) and classes:
        owner = classes[-1]
        return (f"{field}: {owner} has no option {m.group(1)!r}; its options: "
                f"{', '.join(_options_of(owner)) or 'none'}")
    if "has no attribute" in reason or "No module named" in reason or "Import path" in reason:
        moved = [old for old in MOVED_CLASS_PATHS if old in text]
        if moved:
            return (f"{field}.class_path={moved[0]!r} has moved to {MOVED_CLASS_PATHS[moved[0]]!r}; update the "
                    "config (every class path that moved: " +
                    ", ".join(f"{old} -> {new}" for old, new in MOVED_CLASS_PATHS.items()) + ")")
        valid = f"; guidance classes: {', '.join(_guidance_classes())}" if field.endswith("guidance") else ""
        return f"{field}.class_path={classes[-1]!r} cannot be imported ({reason}){valid}" if classes else reason
    if reason.startswith("Expected a") and given is not None and not given.startswith("NestedArg"):
        return f"{field}={given!r} is not valid: {reason[0].lower()}{reason[1:]}"
    if reason.startswith("unrecognized arguments"):
        return f"{reason}; `lightning predict --help` lists the options"
    return f"{field}: {reason}" if field else reason


def _guidance_classes() -> list[str]:
    """Every guidance method the package exports, as class paths."""
    return [f"samg_video.guidance.{name}" for name in guidance_classes()]


def _options_of(class_path: str) -> list[str]:
    try:
        target = import_class(class_path)
    except (ImportError, AttributeError):
        return []
    return [p for p in inspect.signature(target).parameters if p not in ("self", "args", "kwargs")]
