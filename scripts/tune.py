"""Search guidance settings for a model with Optuna, then confirm them against CFG on held-out prompts.

    python scripts/tune.py -c configs/tune/toy_samg.yaml [--output_dir outputs/tune] [--trials 40]

The tune config names the run config every trial renders with, the prompts (a file, or ``world: N`` distinct
prompts of the toy world) and how they split into a tuning and a held-out set (fixed seed), the alignment
metric and the artifact metrics, the methods and the ranges of their options, and the budget of trials.

1. **Search** on the tuning prompts only: a multi-objective Optuna study (maximise alignment, each artifact
   towards fewer artifacts), every trial rendered through the CLI (``python -m samg_video predict``: the same
   resume, failure isolation and metrics) into ``OUT/trials/<setting>``. The study lives in Optuna's storage
   (``sqlite:///OUT/study.db`` by default, any database URL Optuna takes), so several processes or machines
   can search one study at once, and a killed search resumes where it stopped (a trial whose process died is
   retried; its finished clips are kept).
2. **Confirm** on the held-out prompts: the settings of the tuning front, and CFG at a grid of scales (with
   the CFG scales of the tuning front), are rendered on the held-out prompts (``OUT/held_out/<setting>``); only those numbers are reported, each
   setting placed against CFG's Pareto front with a paired bootstrap and Holm's correction
   (``scripts/compare_runs.py``).
3. **Report**: ``OUT/report.md`` with the held-out verdicts, the confirmed settings as config snippets ready
   to paste, the trade-off plots with both fronts, and Optuna's importance of each option.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import yaml

SCRIPTS = Path(__file__).resolve().parent
if str(SCRIPTS) not in sys.path:  # its sibling scripts, also when loaded by path
    sys.path.insert(0, str(SCRIPTS))

import compare_runs  # noqa: E402
import sweep  # noqa: E402

from samg_video.cli.script_args import ScriptParser, output_folder_problem, whole_number  # noqa: E402

CLASSES = {"cfg": "CFG", "samg": "SAMG", "apg": "APG", "cfgzerostar": "CFGZeroStar", "mambog": "MamboG",
           "cfgrescale": "CFGRescale"}
REQUIRED = ("run_config", "prompts", "split", "alignment", "artifacts", "methods", "trials", "cfg_grid")
OPTIONAL = {"render_args": [], "confirm": 6, "storage": None, "study_name": "tune", "seed": 0,
            "videos_per_prompt": 1}


class TuneError(ValueError):
    pass


# ---- the config ------------------------------------------------------------------------------------------
def read_tune_config(path: Path) -> dict[str, Any]:
    """The tune config, every field checked before any work."""
    if not path.is_file():
        raise TuneError(f"-c {path}: no such file")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise TuneError(f"{path} is not YAML: {error}") from None
    if not isinstance(config, dict):
        raise TuneError(f"{path} must be a mapping of {', '.join(REQUIRED)}")
    unknown = set(config) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise TuneError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}; valid: "
                        f"{', '.join(REQUIRED + tuple(OPTIONAL))}")
    missing = [key for key in REQUIRED if key not in config]
    if missing:
        raise TuneError(f"{path}: {', '.join(missing)} missing")
    config = {**OPTIONAL, **config}
    run_config = (path.parent / config["run_config"]) if not Path(config["run_config"]).is_absolute() else \
        Path(config["run_config"])
    if not run_config.is_file():
        run_config = Path(config["run_config"])  # relative to the working directory
    if not run_config.is_file():
        raise TuneError(f"{path}: run_config={config['run_config']!r}: no such file")
    config["run_config"] = run_config
    if config["alignment"] not in compare_runs.METRICS:
        raise TuneError(f"{path}: alignment={config['alignment']!r}; choose one of {', '.join(compare_runs.METRICS)}")
    artifacts = config["artifacts"]
    if not isinstance(artifacts, list) or not artifacts or any(a not in compare_runs.ARTIFACTS for a in artifacts):
        raise TuneError(f"{path}: artifacts={artifacts!r}; a list of {', '.join(compare_runs.ARTIFACTS)}")
    split = config["split"]
    if not isinstance(split, dict) or set(split) - {"tuning", "held_out", "seed"} or not all(
            isinstance(split.get(k), int) and split[k] >= 2 for k in ("tuning", "held_out")):
        raise TuneError(f"{path}: split={split!r}; give tuning: N and held_out: M prompts (2 or more each) and "
                        "optionally seed")
    for key in ("trials", "confirm", "videos_per_prompt"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            raise TuneError(f"{path}: {key}={config[key]!r} must be a whole number >= 1")
    grid = config["cfg_grid"]
    if not isinstance(grid, list) or len(grid) < 2 or any(not isinstance(s, (int, float)) or s <= 0 for s in grid):
        raise TuneError(f"{path}: cfg_grid={grid!r}; give two or more CFG scales > 0")
    config["space"] = parse_methods(config["methods"], path)
    return config


def parse_methods(methods: Any, path: Path) -> dict[str, dict[str, Any]]:
    """``{method: {option: range}}``: ``[low, high]`` numbers are a range (whole numbers if both are), a list
    of words or booleans is a choice, a single value is fixed. Every corner of the space is checked by
    building the guidance object."""
    if not isinstance(methods, dict) or not methods:
        raise TuneError(f"{path}: methods must map method names ({', '.join(CLASSES)}) to their option ranges")
    space = {}
    for name, options in methods.items():
        if name not in CLASSES:
            raise TuneError(f"{path}: methods.{name}: unknown method; choose from {', '.join(CLASSES)}")
        if not isinstance(options, dict) or not options:
            raise TuneError(f"{path}: methods.{name} must map its options to ranges, e.g. scale: [1.0, 8.0]")
        cls = sweep.GUIDANCE_CLASSES[CLASSES[name].lower()]
        for option, value in options.items():
            try:
                cls(**corner(options, option, value))
            except TypeError:
                raise TuneError(f"{path}: methods.{name}.{option}: {cls.__name__} has no such option") from None
            except ValueError as error:  # it names the option and the value
                raise TuneError(f"{path}: methods.{name}: {error}") from None
        space[name] = options
    return space


def corner(options: dict[str, Any], option: str, value: Any) -> dict[str, Any]:
    """One setting of the space with ``option`` at its first value and every other at its lowest."""
    def first(v: Any) -> Any:
        return v[0] if isinstance(v, list) else v

    arguments = {key: first(v) for key, v in options.items()}
    if "w_min" in arguments and "w_max" in arguments and isinstance(options.get("w_max"), list):
        arguments["w_max"] = max(arguments["w_min"], options["w_max"][-1])
    arguments[option] = first(value)
    return arguments


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """A setting drawn by the trial: the method, then its options (``w_max`` from ``w_min`` up)."""
    method = trial.suggest_categorical("method", sorted(space)) if len(space) > 1 else next(iter(space))
    arguments: dict[str, Any] = {}
    # w_min before w_max, whatever the config's order: w_max is drawn from w_min up
    for option, value in sorted(space[method].items(), key=lambda item: item[0] != "w_min"):
        key = f"{method}.{option}"
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                              for v in value):
            low, high = value
            if option == "w_max" and "w_min" in arguments:
                low = max(low, arguments["w_min"])
            if all(isinstance(v, int) for v in value):
                arguments[option] = trial.suggest_int(key, int(low), int(high))
            else:
                arguments[option] = round(trial.suggest_float(key, float(low), float(high)), 3)
        elif isinstance(value, list):
            arguments[option] = trial.suggest_categorical(key, value)
        else:
            arguments[option] = value
    return method, arguments


def setting_of(method: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"class_path": f"samg_video.guidance.{CLASSES[method]}", "init_args": arguments}


def folder_of(setting: dict[str, Any]) -> str:
    """A short, stable name for a setting: the same setting always renders into the same folder."""
    text = json.dumps(setting, sort_keys=True)
    return f"{setting['class_path'].rsplit('.', 1)[-1].lower()}_{hashlib.sha256(text.encode()).hexdigest()[:10]}"


# ---- prompts ---------------------------------------------------------------------------------------------
def split_prompts(config: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The tuning and held-out prompts: disjoint, drawn with the split's seed."""
    source = config["prompts"]
    if isinstance(source, dict) and set(source) == {"world"} and isinstance(source["world"], int):
        from toy_experiment import experiment_prompts

        prompts = experiment_prompts(source["world"])
    elif isinstance(source, str) and Path(source).is_file():
        from datamodules.prompts import PromptDataModule

        prompts = list(dict.fromkeys(item["prompt"] for item in PromptDataModule(source).items))
    else:
        raise TuneError(f"prompts={source!r}: give a prompt file or world: N (prompts of the toy world)")
    split = config["split"]
    if split["tuning"] + split["held_out"] > len(prompts):
        raise TuneError(f"split: {split['tuning']} tuning + {split['held_out']} held-out prompts, but the prompts "
                        f"hold {len(prompts)} distinct ones")
    shuffled = random.Random(split.get("seed", 0)).sample(prompts, len(prompts))
    return shuffled[: split["tuning"]], shuffled[split["tuning"]: split["tuning"] + split["held_out"]]


# ---- rendering and scoring --------------------------------------------------------------------------------
def render(config: dict[str, Any], folder: Path, setting: dict[str, Any], prompts_file: Path) -> int:
    """One setting through the CLI (the sweep's render): resumable, failures isolated."""
    extra = [*map(str, config["render_args"]), "--data.videos_per_prompt", str(config["videos_per_prompt"])]
    return sweep.render(config["run_config"], folder, setting, str(prompts_file), extra)


def objectives(folder: Path, config: dict[str, Any]) -> list[float]:
    """The run's mean alignment and mean artifacts over its complete clips, artifacts signed so that lower is
    fewer (the study minimises them)."""
    records = compare_runs.complete_records(folder, list(compare_runs.read_records(folder / "metrics.jsonl")
                                                         .records.values()))
    values = []
    for name in [config["alignment"], *config["artifacts"]]:
        present = [r[name] for r in records if r.get(name) is not None]
        if not present:
            raise TuneError(f"{folder}: no clip has {name}; is it among the run config's ClipMetrics metrics?")
        mean = sum(present) / len(present)
        values.append(mean if name == config["alignment"] or compare_runs.ARTIFACTS[name] else -mean)
    return values


def write_prompts(path: Path, prompts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts), encoding="utf-8")
    return path


# ---- the search -------------------------------------------------------------------------------------------
def open_study(config: dict[str, Any], out: Path) -> Any:
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = config["storage"] or f"sqlite:///{(out / 'study.db').resolve()}"
    # a trial whose process stopped beating (killed) is failed and tried again by whoever runs next
    storage = RDBStorage(url, heartbeat_interval=30, grace_period=90,
                         heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2))
    directions = ["maximize"] + ["minimize"] * len(config["artifacts"])
    sampler = optuna.samplers.TPESampler(seed=config["seed"], n_startup_trials=min(10, config["trials"]))
    return optuna.create_study(storage=storage, study_name=config["study_name"], directions=directions,
                               sampler=sampler, load_if_exists=True)


def search(config: dict[str, Any], out: Path, tuning_file: Path) -> Any:
    import optuna
    from optuna.study import MaxTrialsCallback

    study = open_study(config, out)
    started, done_before = time.monotonic(), completed(study)

    def objective(trial: Any) -> list[float]:
        method, arguments = suggest(trial, config["space"])
        setting = setting_of(method, arguments)
        trial.set_user_attr("guidance", setting)
        folder = out / "trials" / folder_of(setting)
        code = render(config, folder, setting, tuning_file)
        if code not in (0, sweep.EXIT_CLIPS_FAILED):
            raise TuneError(f"rendering {folder.name} failed (exit {code})")
        return objectives(folder, config)

    def progress(study: Any, trial: Any) -> None:
        done = completed(study)
        mean = (time.monotonic() - started) / max(1, done - done_before)
        left = max(0, config["trials"] - done)
        shown = ", ".join(f"{v:.4g}" for v in trial.values) if trial.values else trial.state.name.lower()
        print(f"tune: trial {trial.number}: {compare_runs.guidance_label(trial.user_attrs.get('guidance'))} -> "
              f"{shown}; {done}/{config['trials']} done, front {len(study.best_trials)}, about "
              f"{left * mean / 60:.0f} min left", file=sys.stderr, flush=True)

    if done_before < config["trials"]:
        print(f"tune: searching {config['trials']} trials ({done_before} done) on {tuning_file}", file=sys.stderr,
              flush=True)
        study.optimize(objective, callbacks=[MaxTrialsCallback(config["trials"], states=(
            optuna.trial.TrialState.COMPLETE,)), progress], catch=(TuneError,))
    return study


def completed(study: Any) -> int:
    import optuna

    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


# ---- confirmation on held-out prompts and the report -------------------------------------------------------
def front_settings(study: Any, limit: int) -> tuple[list[dict[str, Any]], list[float]]:
    """The distinct non-CFG settings of the tuning front, at most ``limit``, spread over its alignment; and the
    scales of the front's CFG settings (they join CFG's grid: the baseline, not a candidate)."""
    seen, settings, scales = set(), [], []
    for trial in sorted(study.best_trials, key=lambda t: t.values[0]):
        setting = trial.user_attrs.get("guidance")
        if setting and setting["class_path"].endswith(".CFG"):
            scales.append(setting["init_args"]["scale"])
        elif setting and folder_of(setting) not in seen:
            seen.add(folder_of(setting))
            settings.append({"setting": setting, "tuning": trial.values, "trial": trial.number})
    if len(settings) > limit:
        step = (len(settings) - 1) / (limit - 1) if limit > 1 else 0
        settings = [settings[round(i * step)] for i in range(limit)]
    return settings, scales


def importances(study: Any, config: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Optuna's importance of each option for each objective, per method (its options exist only in its own
    trials): ``{"<method> / <objective>": {option: importance}}``."""
    import optuna

    names = [config["alignment"], *config["artifacts"]]
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    result: dict[str, dict[str, float]] = {}
    for method in config["space"]:
        trials = [t for t in complete if t.params.get("method", method) == method]
        varied = [f"{method}.{k}" for k, v in config["space"][method].items() if isinstance(v, list)]
        if len(trials) < 4 or not varied:
            continue
        part = optuna.create_study(directions=study.directions)
        part.add_trials(trials)
        for index, name in enumerate(names):
            # the evaluator ranks options by how they lead to low targets: the alignment is maximised
            sign = -1.0 if study.directions[index] == optuna.study.StudyDirection.MAXIMIZE else 1.0
            try:
                scores = optuna.importance.get_param_importances(part, params=varied,
                                                                 target=lambda t, i=index, s=sign: s * t.values[i])
            except Exception as error:  # too few trials or distinct values to tell: said, not fatal
                print(f"tune: warning: no importance for {method} / {name}: {type(error).__name__}: {error}",
                      file=sys.stderr)
                continue
            result[f"{method} / {name}"] = {key.split(".", 1)[1]: float(v) for key, v in scores.items()}
    return result


def confirm(config: dict[str, Any], out: Path, study: Any, held_out_file: Path) -> tuple[list[dict], Path]:
    """Render the front's settings and CFG's grid on the held-out prompts, then compare them there."""
    confirmed, front_scales = front_settings(study, config["confirm"])
    scales = sorted({float(scale) for scale in config["cfg_grid"]} | set(front_scales))
    runs = [(f"cfg_{scale:g}", setting_of("cfg", {"scale": scale})) for scale in scales]
    # named by the setting: a later front with other settings never meets a folder rendered with another one
    runs += [(folder_of(entry["setting"]), entry["setting"]) for entry in confirmed]
    folders = []
    for number, (name, setting) in enumerate(runs, start=1):
        folder = out / "held_out" / name
        print(f"tune: held-out [{number}/{len(runs)}] {compare_runs.guidance_label(setting)} -> {folder}",
              file=sys.stderr, flush=True)
        code = render(config, folder, setting, held_out_file)
        if code not in (0, sweep.EXIT_CLIPS_FAILED):
            raise TuneError(f"rendering {name} on the held-out prompts failed (exit {code})")
        folders.append(folder)
    report = out / "held_out_report"
    code = compare_runs.main([*map(str, folders), "--out", str(report), "--alignment", config["alignment"],
                              "--artifacts", *config["artifacts"], "--metrics", config["alignment"],
                              *config["artifacts"]])
    if code != 0:
        raise TuneError(f"the held-out comparison failed (exit {code})")
    for entry in confirmed:
        entry["name"] = folder_of(entry["setting"])
    return confirmed, report


def plot_fronts(numbers: dict[str, Any], tuned: list[str], out: Path) -> list[str]:
    """Per artifact: CFG's runs and Pareto front, and the tuning front's settings, all on the held-out prompts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    alignment = numbers["alignment"]
    for artifact, found in numbers["artifacts"].items():
        points = {p["label"]: p for p in found["points"]}
        cfg = sorted((p for p in points.values() if p["cfg_scale"] is not None), key=lambda p: p["alignment"])
        front = [p for p in cfg if p["label"] in found["front"]]
        ours = sorted((points[name] for name in tuned if name in points), key=lambda p: p["alignment"])
        figure, axes = plt.subplots(figsize=(7.5, 4.6))
        axes.plot([p["alignment"] for p in cfg], [p["artifact"] for p in cfg], "o", color=compare_runs.PALETTE[0],
                  label="CFG (scale)")
        for p in cfg:
            axes.annotate(f"{p['cfg_scale']:g}", (p["alignment"], p["artifact"]), textcoords="offset points",
                          xytext=(5, -9), fontsize=8, color=compare_runs.PALETTE[0])
        axes.plot([p["alignment"] for p in front], [p["artifact"] for p in front], linewidth=2.2,
                  alpha=0.5, color=compare_runs.PALETTE[0], label="CFG's Pareto front")
        axes.plot([p["alignment"] for p in ours], [p["artifact"] for p in ours], "s-", color=compare_runs.PALETTE[1],
                  label="the tuning front's settings")
        for p in ours:
            axes.annotate(p["label"], (p["alignment"], p["artifact"]), textcoords="offset points", xytext=(5, 4),
                          fontsize=7, color=compare_runs.PALETTE[1])
        axes.set_xlabel(f"{alignment} (higher follows the prompt more)")
        lower = compare_runs.ARTIFACTS[artifact]
        axes.set_ylabel(f"{artifact} ({'lower' if lower else 'higher'} is fewer artifacts)")
        axes.set_title("Held-out prompts: the tuning front against CFG's front", fontsize=10)
        axes.grid(True, linewidth=0.4, alpha=0.5)
        axes.legend(fontsize=8, frameon=False)
        figure.tight_layout()
        name = f"fronts_{alignment}_vs_{artifact}.png"
        figure.savefig(out / name, dpi=120)
        plt.close(figure)
        written.append(name)
    return written


def write_report(config: dict[str, Any], out: Path, study: Any, confirmed: list[dict], report: Path,
                 prompts: tuple[list[str], list[str]], seconds: float) -> Path:
    import optuna

    numbers = json.loads((report / "report.json").read_text())["tradeoff"]
    names = [config["alignment"], *config["artifacts"]]
    trials = study.get_trials(deepcopy=False)
    states = {state.name.lower(): sum(t.state == state for t in trials) for state in optuna.trial.TrialState}
    lines = ["# Guidance search: settings found on tuning prompts, confirmed on held-out prompts", "",
             f"Run config `{config['run_config']}`; {len(prompts[0])} tuning and {len(prompts[1])} held-out prompts "
             f"(disjoint, split seed {config['split'].get('seed', 0)}), {config['videos_per_prompt']} seed{'s' if config['videos_per_prompt'] > 1 else ''} each. "
             f"{states.get('complete', 0)} trials complete ({states.get('fail', 0)} failed), "
             f"{seconds / 60:.1f} min in this process. Objectives: `{config['alignment']}` (higher) and "
             f"{', '.join(f'`{a}`' for a in config['artifacts'])} (fewer artifacts).", "",
             "## Held-out verdicts", "",
             "Only held-out numbers decide. Each tuned setting against CFG's Pareto front on the held-out prompts "
             "(paired bootstrap over prompts, Holm's correction over the settings confirmed):", ""]
    lines += ["| setting | " + " | ".join(f"`{a}`: excess, 95 % CI, verdict" for a in config["artifacts"]) + " |",
              "|---|" + "---|" * len(config["artifacts"])]
    for entry in confirmed:
        cells = []
        for artifact in config["artifacts"]:
            found = next((s for s in numbers["artifacts"].get(artifact, {}).get("settings", [])
                          if s["run"] == entry["name"]), None)
            if found is None:
                cells.append("n/a")
            elif "excess" in found:
                cells.append(f"{found['excess']:+.3g} [{found['ci_low']:+.3g}, {found['ci_high']:+.3g}], "
                             f"{found['verdict'].split(':')[0]}")
            else:
                cells.append(found["verdict"])
        lines.append(f"| {entry['name']}: {compare_runs.guidance_label(entry['setting'])} | " + " | ".join(cells) + " |")
    beyond = [e for e in confirmed if any(s["run"] == e["name"] and s.get("verdict", "").startswith("beyond")
                                          for a in numbers["artifacts"].values() for s in a["settings"])]
    lines += ["", f"**Beyond CFG's front on held-out prompts, after correction: "
                  f"{', '.join(e['name'] for e in beyond) if beyond else 'none'}.**", ""]
    lines += ["## The confirmed settings as config snippets", ""]
    for entry in confirmed:
        snippet = yaml.safe_dump({"model": {"guidance": entry["setting"]}}, sort_keys=False)
        tuning = ", ".join(f"{n} {v:.4g}" for n, v in zip(names, entry["tuning"]))
        lines += [f"{entry['name']} (trial {entry['trial']}; on the tuning prompts: {tuning}):", "", "```yaml",
                  snippet.rstrip(), "```", ""]
    scores_by_target = importances(study, config)
    lines += ["## Which options matter (Optuna's importance, on the tuning trials)", "",
              "Optuna's default importance evaluator, per method and objective (the share of the objective's "
              "variation each option accounts for; a method's options exist only in its own trials):", ""]
    for target, scores in scores_by_target.items():
        ranked = ", ".join(f"`{k}` {v:.2f}" for k, v in sorted(scores.items(), key=lambda kv: -kv[1]))
        lines.append(f"- {target}: {ranked}")
    lines += ["", "## Both fronts on the held-out prompts", ""]
    for name in plot_fronts(numbers, [e["name"] for e in confirmed], out):
        lines.append(f"![{name}]({name})")
    lines += ["", f"The full held-out comparison: [{report.name}/report.md]({report.name}/report.md); the study: "
                  f"`{config['storage'] or out / 'study.db'}` (study `{config['study_name']}`)."]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "report.json").write_text(json.dumps({
        "trials": states, "seconds": seconds, "tuning_prompts": prompts[0], "held_out_prompts": prompts[1],
        "confirmed": confirmed, "beyond": [e["name"] for e in beyond], "importances": scores_by_target,
    }, indent=2, default=str) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = ScriptParser(prog="tune", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", type=Path, required=True, help="the tune config, e.g. configs/tune/toy_samg.yaml")
    parser.add_argument("--output_dir", type=Path, default=Path("outputs/tune"))
    parser.add_argument("--trials", type=whole_number(1), help="the budget of trials (default: the config's)")
    args = parser.parse_args(argv)
    try:
        config = read_tune_config(args.config)
        if args.trials:
            config["trials"] = args.trials
        problem = output_folder_problem(args.output_dir, "--output_dir")
        if problem:
            raise TuneError(problem)
        tuning, held_out = split_prompts(config)
    except TuneError as error:
        parser.refuse(str(error))
    started = time.monotonic()
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    tuning_file = write_prompts(out / "prompts_tuning.jsonl", tuning)
    held_out_file = write_prompts(out / "prompts_held_out.jsonl", held_out)
    try:
        study = search(config, out, tuning_file)
        if completed(study) < config["trials"]:
            print(f"tune: error: {completed(study)} of {config['trials']} trials completed (the others failed; see "
                  "their renders' output above); re-running the same command resumes", file=sys.stderr)
            return 1
        confirmed, report = confirm(config, out, study, held_out_file)
    except TuneError as error:
        print(f"tune: error: {error}; re-running the same command resumes", file=sys.stderr)
        return 1
    path = write_report(config, out, study, confirmed, report, (tuning, held_out), time.monotonic() - started)
    print(f"tune: done: {completed(study)} trials, {len(confirmed)} settings confirmed on held-out prompts; report in "
          f"{path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("tune: interrupted; running the same command again resumes the study and every render",
              file=sys.stderr)
        sys.exit(130)
