"""Render the same prompts and seeds under several guidance settings, then compare them in one report.

    python scripts/sweep.py -c configs/tiny_samg.yaml --guidance cfg:3 cfg:6 cfg:9 samg:4,9.6 \\
        --output_dir outputs/sweep

Each setting renders through the CLI (``python -m samg_video predict``) into its own sibling folder
(``outputs/sweep/cfg_3``, ``outputs/sweep/samg_4_9.6``, ...); then ``scripts/compare_runs.py`` writes
``outputs/sweep/report/report.md`` with the first setting as the reference. Running the same command
again resumes: complete clips are skipped in every folder.

A setting is ``NAME:VALUES``: NAME a guidance class of ``samg_video.guidance`` (any case: cfg, samg, apg,
cfgrescale, cfgzerostar, dynamiccfg, mambog), VALUES its arguments separated by commas, by position in the
order of the class's signature or as ``key=value``: ``samg:4,9.6,temporal_sigma=1``, ``apg:6,eta=0``.
Arguments after ``--`` go to every render, e.g. ``-- --model.num_inference_steps 20``.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

import samg_video.guidance as guidance_module
from samg_video.cli.script_args import ScriptParser, output_folder_problem
from samg_video.errors import ConfigurationError

SCRIPTS = Path(__file__).resolve().parent
GUIDANCE_CLASSES = {name.lower(): getattr(guidance_module, name) for name in guidance_module.__all__
                    if inspect.isclass(getattr(guidance_module, name))
                    and issubclass(getattr(guidance_module, name), guidance_module.Guidance)
                    and getattr(guidance_module, name) is not guidance_module.Guidance}
SCALE_OPTIONS = ("scale", "w_min", "w_max")
EXIT_CLIPS_FAILED = 1  # the CLI's code when some clips failed: the run finished, the rest is usable


class SweepError(ValueError):
    pass


def parse_setting(text: str) -> tuple[str, dict[str, Any]]:
    """``(folder name, {"class_path", "init_args"})`` for one ``NAME:VALUES`` setting; validated by
    building the guidance object, so a bad value fails before anything renders."""
    name, _, values = text.partition(":")
    cls = GUIDANCE_CLASSES.get(name.strip().lower())
    if cls is None:
        raise SweepError(f"--guidance {text!r}: unknown method {name!r}; choose one of "
                         f"{', '.join(sorted(GUIDANCE_CLASSES))}")
    parameters = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    arguments: dict[str, Any] = {}
    positional = 0
    for value in (v.strip() for v in re.split(r",(?![^\[]*\])", values) if v.strip()):  # not inside [...]
        key, equals, raw = value.partition("=")
        if equals:
            key = key.strip()
        elif len(arguments) > positional or positional >= len(parameters):
            raise SweepError(f"--guidance {text!r}: the value {value!r} has no name, and it comes after named "
                             f"values or is one too many")
        else:
            key, raw = parameters[positional], value
            positional += 1
        if key not in parameters:
            raise SweepError(f"--guidance {text!r}: {cls.__name__} has no option {key!r}; its options: "
                             f"{', '.join(parameters)}")
        try:
            arguments[key] = yaml.safe_load(raw.strip())
        except yaml.YAMLError:
            raise SweepError(f"--guidance {text!r}: {key}={raw.strip()!r} is not a value (a number, true/false, "
                             "a word or a [list])") from None
    try:
        cls(**arguments)
    except (ConfigurationError, TypeError, ValueError) as error:
        raise SweepError(f"--guidance {text!r}: {error}") from None
    return folder_name(cls.__name__, arguments), {"class_path": f"samg_video.guidance.{cls.__name__}",
                                                  "init_args": arguments}


def folder_name(class_name: str, arguments: dict[str, Any]) -> str:
    """``cfg_3``, ``samg_4_9.6``, ``apg_6_eta0``: the scales bare, other options with their names."""
    parts = [class_name.lower()] + [f"{value:g}" if key in SCALE_OPTIONS and isinstance(value, (int, float))
                                    else f"{key}{value}" for key, value in arguments.items()]
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", "_".join(parts))


def render(config: Path, folder: Path, guidance: dict[str, Any], prompts: str | None, extra: list[str]) -> int:
    command = [sys.executable, "-m", "samg_video", "predict", "-c", str(config), "--output_dir", str(folder),
               "--model.guidance", json.dumps(guidance)]
    if prompts is not None:
        command += ["--data.prompts", prompts]
    return subprocess.run(command + extra).returncode


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = ScriptParser(prog="sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", type=Path, required=True, help="the run config, e.g. configs/tiny_samg.yaml")
    parser.add_argument("--guidance", nargs="+", required=True,
                        help="settings NAME:VALUES, e.g. cfg:6 samg:4,9.6; the first is the report's reference")
    parser.add_argument("--output_dir", type=Path, required=True, help="parent folder of the per-setting folders")
    parser.add_argument("--prompts", help="prompt file or list for every render (default: the config's)")
    parser.add_argument("--metrics", nargs="+", help="metrics for the report (default: all)")
    parser.add_argument("--alignment", help="the alignment metric of the report's trade-off (default: clip_score)")
    parser.add_argument("--artifacts", nargs="+", help="the artifact metrics of the report's trade-off (default: all)")
    parser.add_argument("--per_clip_plots", action="store_true",
                        help="also write the report's per-clip plots (report/per_clip/)")
    args = parser.parse_args(argv)
    if not args.config.is_file():
        parser.error(f"--config {args.config}: file not found")
    try:
        settings = [parse_setting(text) for text in args.guidance]
    except SweepError as error:
        parser.error(str(error))
    # checked here, not after every setting has rendered
    if str(SCRIPTS) not in sys.path:  # its sibling script, also when this one is loaded by path
        sys.path.insert(0, str(SCRIPTS))
    import compare_runs
    from compare_runs import ARTIFACTS, METRICS

    if args.alignment and args.alignment not in METRICS:
        parser.error(f"--alignment {args.alignment!r}: choose one of {', '.join(METRICS)}")
    unknown = [name for name in args.artifacts or [] if name not in ARTIFACTS]
    if unknown:
        parser.error(f"--artifacts {' '.join(unknown)}: choose from {', '.join(ARTIFACTS)}")
    unknown = [name for name in args.metrics or [] if name not in METRICS]
    if unknown:
        parser.error(f"--metrics {' '.join(unknown)}: choose from {', '.join(METRICS)}")
    if args.prompts is not None and not args.prompts.lstrip().startswith("[") and not Path(args.prompts).is_file():
        parser.error(f"--prompts {args.prompts}: no such file (give a prompt file, or a list such as '[a cat, a dog]')")
    problem = output_folder_problem(args.output_dir, "--output_dir")
    if problem:
        parser.error(problem)
    names = [name for name, _ in settings]
    if len(set(names)) != len(names):
        parser.error(f"--guidance: two settings are the same ({', '.join(names)})")
    if len(settings) < 2:
        parser.error("--guidance: give at least two settings to compare")

    folders = [args.output_dir / name for name in names]
    for number, (folder, (name, guidance)) in enumerate(zip(folders, settings), start=1):
        print(f"sweep: [{number}/{len(settings)}] {name} -> {folder}", file=sys.stderr, flush=True)
        code = render(args.config, folder, guidance, args.prompts, extra)
        if code not in (0, EXIT_CLIPS_FAILED):
            print(f"sweep: error: rendering {name} failed (exit {code}); fix it and run the same command again "
                  "(finished clips are kept)", file=sys.stderr)
            return code
        if code == EXIT_CLIPS_FAILED:
            print(f"sweep: warning: some clips of {name} failed (see {folder / 'failures.jsonl'}); "
                  "the report compares the others", file=sys.stderr)

    report = args.output_dir / "report"
    options = [*map(str, folders), "--out", str(report)]
    if args.metrics:
        options += ["--metrics", *args.metrics]
    if args.alignment:
        options += ["--alignment", args.alignment]
    if args.artifacts:
        options += ["--artifacts", *args.artifacts]
    if args.per_clip_plots:
        options += ["--per_clip_plots"]
    code = compare_runs.main(options)  # in this process: it reads files only
    if code == 0:
        print(f"sweep: report in {report / 'report.md'}", file=sys.stderr)
    return code

if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the render in progress has finished its clips in flight and said so
        print("sweep: interrupted; running the same command again resumes every folder", file=sys.stderr)
        sys.exit(130)
