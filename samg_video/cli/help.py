"""Help on the command line: what ``lightning predict --help`` and ``--model.guidance.help NAME`` print.

jsonargparse's own help lists Lightning's Trainer options (hundreds of lines) and none of the model's,
the data's or the guidance's, since those are chosen by ``class_path``; the overview here lists those
first and points to the complete help of each class.
"""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
import textwrap
from typing import Any

from samg_video.errors import ConfigurationError

MODELS = ("samg_video.modules.VideoGenerator", "samg_video.modules.ClipEvaluator")
DATAMODULES = ("datamodules.prompts.PromptDataModule", "datamodules.videos.VideoFolderDataModule")
CALLBACKS = ("samg_video.callbacks.ClipProgressBar", "samg_video.callbacks.ClipMetrics",
             "samg_video.callbacks.ScaleMapWriter", "samg_video.callbacks.ClipWriter")
HELP_FLAGS = ("-h", "--help")
# prints jsonargparse's complete help, Lightning's Trainer options included
FULL_HELP_FLAG = "--help-all"


def import_class(class_path: str) -> type:
    module_name, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def guidance_classes() -> dict[str, type]:
    """Every guidance method the package exports, by class name."""
    import samg_video.guidance as guidance

    return {name: getattr(guidance, name) for name in guidance.__all__
            if isinstance(getattr(guidance, name), type) and issubclass(getattr(guidance, name), guidance.Guidance)
            and getattr(guidance, name) is not guidance.Guidance}


def resolve_guidance(name: str) -> type:
    """A guidance class from its name (``SAMG``, any case) or class path (``samg_video.guidance.SAMG``)."""
    classes = guidance_classes()
    short = name.rpartition(".")[2]
    for class_name, cls in classes.items():
        if class_name.lower() == short.lower() and name in (short, f"samg_video.guidance.{class_name}", f"{cls.__module__}.{class_name}"):
            return cls
    raise ConfigurationError(f"--model.guidance.help {name!r}: no such guidance class; choose one of "
                             f"{', '.join(classes)}")


def _descriptions(cls: type) -> tuple[str, dict[str, str]]:
    """The docstring's summary and its ``Args:`` descriptions (Google style, as every class here has)."""
    from docstring_parser import parse

    text = inspect.getdoc(cls) or ""
    doc = parse(text)
    # the first sentence of the first paragraph (which may span lines)
    paragraph = " ".join(text.split("\n\n")[0].split())
    summary = re.split(r"(?<=[.:])\s", paragraph, maxsplit=1)[0].rstrip(":")
    return summary, {param.arg_name: " ".join((param.description or "").split()) for param in doc.params}


def option_lines(cls: type, prefix: str, skip: tuple[str, ...] = ()) -> list[str]:
    """One entry per constructor argument: ``--prefix.name  (type, default)`` and its description."""
    _, descriptions = _descriptions(cls)
    width = max(60, min(shutil.get_terminal_size((100, 20)).columns, 110))
    lines = []
    for name, parameter in inspect.signature(cls).parameters.items():
        if name in ("self", "args", "kwargs") or name in skip or name.startswith("lpips_random"):
            continue
        annotation = parameter.annotation if isinstance(parameter.annotation, str) else \
            inspect.formatannotation(parameter.annotation)
        default = "required" if parameter.default is inspect.Parameter.empty else f"default: {_show(parameter.default)}"
        lines.append(f"  --{prefix}.{name}  ({annotation}, {default})")
        text = descriptions.get(name, "")
        if text:
            lines += textwrap.wrap(text, width=width, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return lines


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def class_help(class_path: str, prefix: str) -> str:
    cls = import_class(class_path) if isinstance(class_path, str) else class_path
    summary, _ = _descriptions(cls)
    name = class_path if isinstance(class_path, str) else f"samg_video.guidance.{cls.__name__}"
    lines = [f"{name}: {summary}"] + option_lines(cls, prefix)
    return "\n".join(lines)


def guidance_help(name: str) -> str:
    cls = resolve_guidance(name)
    return "\n".join([
        f"usage: lightning predict -c CONFIG --model.guidance {cls.__name__} --model.guidance.OPTION VALUE ...",
        "",
        class_help(cls, "model.guidance"),
    ])


def predict_help() -> str:
    guidance = guidance_classes()
    lines = [
        "usage: lightning predict -c CONFIG [--output_dir DIR] [--overwrite] [--wait_for_others] "
        "[--SECTION.OPTION VALUE ...]",
        "",
        "Renders clips with a diffusers pipeline and a guidance method (SAMG, CFG, ...), or scores existing",
        "clips, as the config says (configs/*.yaml). Every option of the config can also be set here, with",
        "dots for nesting: --model.num_inference_steps 30, --model.guidance.w_max 9.6, --data.prompts p.txt.",
        "",
        "Run options:",
        "  -c, --config CONFIG  a YAML config; may be given more than once, later ones override",
        "  --output_dir DIR  (default: outputs) where clips, metadata, metrics and run_config.yaml go",
        "  --overwrite  render again, and replace, clips already complete in --output_dir",
        "  --wait_for_others  when other runs into the same --output_dir still render clips of this list, wait",
        "      for them (the last run's summary then covers every clip); by default the run ends and says so",
        "  --seed_everything N  Lightning's global seed (clip noise comes from each clip's own seed)",
        "  --return_predictions true  keep every clip's frames in memory and return them (default: false)",
        "  --print_config  print the resolved config and exit",
        f"  {FULL_HELP_FLAG}  jsonargparse's complete help, with all of Lightning's Trainer options",
        "",
        "Model (--model CLASS): samg_video.modules.VideoGenerator renders clips;",
        "samg_video.modules.ClipEvaluator scores existing clips (configs/evaluate_clips.yaml; no options).",
        *option_lines(import_class(MODELS[0]), "model"),
        "",
        "Guidance (--model.guidance NAME, then --model.guidance.OPTION VALUE; options of one:",
        "lightning predict --model.guidance.help NAME):",
        *[f"  {name}: {_descriptions(cls)[0]}" for name, cls in guidance.items()],
        "",
        "Data (--data CLASS):",
        *class_help(DATAMODULES[0], "data").splitlines(),
        *class_help(DATAMODULES[1], "data").splitlines(),
        "",
        "Callbacks (listed under trainer.callbacks in the config; options of one:",
        "lightning predict --trainer.callbacks.help NAME):",
        *[f"  {path}: {_descriptions(import_class(path))[0]}" for path in CALLBACKS],
        "",
        "Trainer: Lightning's Trainer options, e.g. --trainer.accelerator cpu, --trainer.devices 2,",
        f"--trainer.strategy ddp, --trainer.precision bf16-mixed, --trainer.logger; all of them: {FULL_HELP_FLAG}.",
        "",
        "Exit status: 0 done, 1 some clips failed or could not be read, 2 bad input (nothing done),",
        "3 the run stopped with an error, 130 interrupted (re-running the same command resumes).",
    ]
    return "\n".join(lines)


def requested_help(args: list[str]) -> str | None:
    """The help text the arguments ask for, when it is one of ours; None otherwise."""
    for i, argument in enumerate(args):
        if argument == "--model.guidance.help" or argument.startswith("--model.guidance.help="):
            name = argument.partition("=")[2] or (args[i + 1] if i + 1 < len(args) else "")
            if not name:
                return "\n".join(["Guidance classes (lightning predict --model.guidance.help NAME):",
                                  *[f"  {n}" for n in guidance_classes()]])
            return guidance_help(name)
    if args[:1] == ["predict"] and any(flag in args for flag in HELP_FLAGS):
        return predict_help()
    return None
