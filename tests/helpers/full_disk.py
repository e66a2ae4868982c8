"""The phases of a run on a disk that fills up, in one process (each CLI process pays ~5 s of imports):
run inside a private mount namespace whose ``DISK`` is a 1 MiB tmpfs.

    python full_disk.py DISK RESULTS CLI_ARGS...

Writes ``RESULTS/PHASE.rc`` and ``RESULTS/PHASE.err`` (the exit status and stderr, as a process of its own
would give them) and copies the output folder to ``RESULTS/PHASE`` for phases ``start`` (the disk full from
the start), ``mid`` (full after a couple of clips) and ``rerun`` (space freed: the re-run completes the set).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from cli_runs import run_here

MIB = 1024 * 1024


def fill(path: Path, size: int) -> None:
    with open(path, "wb") as file:
        try:
            file.write(b"\0" * size)
        except OSError:  # the disk is full: as much as fits
            pass


def main(disk: Path, results: Path, args: list[str]) -> None:
    out = disk / "out"
    filler = disk / "filler"

    def phase(name: str) -> None:
        result = run_here([*args, "--output_dir", out], cwd=results)
        (results / f"{name}.rc").write_text(str(result.returncode))
        (results / f"{name}.err").write_text(result.stderr)
        if out.exists():
            shutil.copytree(out, results / name, symlinks=True)

    fill(filler, 2 * MIB)  # full from the start: nothing but one line
    phase("start")
    filler.unlink()
    shutil.rmtree(out, ignore_errors=True)
    fill(filler, MIB - 96 * 1024)  # full after a couple of clips
    phase("mid")
    filler.unlink()  # space freed
    phase("rerun")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])
