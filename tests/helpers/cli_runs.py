"""Running the user's entry point, ``lightning predict``, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **extra}
    env.pop("SAMG_VIDEO_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HELPERS), env.get("PYTHONPATH")]))  # fault injection
    return env


def run(args, cwd, script="lightning", timeout=300, **env):
    command = [str(BIN / script)] if script else [sys.executable, "-m", "samg_video"]
    return subprocess.run(command + [str(a) for a in args], cwd=cwd, env=cli_env(**env), capture_output=True,
                          text=True, timeout=timeout)


def clip_videos(directory: Path) -> list[Path]:
    """The clips of an output folder, without the scale-map pictures beside them."""
    from samg_video.files.media import is_scale_map_picture

    return sorted(p for p in Path(directory).glob("*.mp4") if not is_scale_map_picture(p))


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
