"""Running the user's entry point, ``lightning predict``: in a real process where the process boundary is what a
test is about (exit statuses, signals, DDP, SIGKILL), in this process everywhere else (each CLI process pays
about 5 s of imports before it does anything)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).resolve().parent
TINY_CONFIG = ROOT / "configs" / "tiny_samg.yaml"
TINY_PROMPTS = ROOT / "configs" / "prompts" / "tiny.txt"
BIN = Path(sys.executable).parent
# fast settings for tests that care about files, not pictures
FAST = ["--model.num_inference_steps", "2"]
TWO_CPU_RANKS = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]


def cli_env(**extra: str) -> dict[str, str]:
    # a CLI process takes the test worker's share of the cores (DDP ranks split it further themselves)
    threads = str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": threads, **extra}
    env.pop("SAMG_VIDEO_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HELPERS), env.get("PYTHONPATH")]))  # fault injection
    return env


def run(args, cwd, script="lightning", timeout=300, **env):
    """The CLI in a new process, as a user starts it."""
    command = [str(BIN / script)] if script else [sys.executable, "-m", "samg_video"]
    return subprocess.run(command + [str(a) for a in args], cwd=cwd, env=cli_env(**env), capture_output=True,
                          text=True, timeout=timeout)


def run_here(args, cwd, **env) -> subprocess.CompletedProcess:
    """The CLI's entry function in this process, as ``run`` would start it: the working directory, the
    environment, stdout and stderr, and the exit status; everything it changes in this process is put back."""
    from samg_video.cli import main

    args = [str(a) for a in args]
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stdout, stderr = io.StringIO(), io.StringIO()
    os.environ.update(env)
    os.environ.pop("SAMG_VIDEO_DEBUG", None)
    os.chdir(cwd)
    code = 0
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                main(args)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for signum, handler in saved_signals.items():
            signal.signal(signum, handler)
    return subprocess.CompletedProcess(["lightning", *args], code, stdout.getvalue(), stderr.getvalue())


def load_script(name: str):
    """A script of ``scripts/`` as a module, to call its ``main(argv)`` in this process."""
    import importlib.util

    if str(ROOT / "scripts") not in sys.path:  # scripts import their siblings, as when run from that folder
        sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clip_videos(directory: Path) -> list[Path]:
    """The clips of an output folder, without the scale-map pictures beside them."""
    from samg_video.files.media import is_scale_map_picture

    return sorted(p for p in Path(directory).glob("*.mp4") if not is_scale_map_picture(p))


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
