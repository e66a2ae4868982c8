"""Arguments of the scripts in ``scripts/``: every one checked before any work, a refusal in one line
(``<script>: error: ...``) with exit status 2, as the CLI does."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

from samg_video.errors import ConfigurationError
from samg_video.files.resume import check_output_dir

EXIT_BAD_INPUT = 2


class ScriptParser(argparse.ArgumentParser):
    """``argparse`` whose errors are one line, without the usage block; ``refuse`` for the script's own checks."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")

    def refuse(self, message: str) -> NoReturn:
        self.error(message)


def output_folder_problem(path: Path, option: str, inputs: Iterable[Path] = ()) -> str | None:
    """Why ``path`` cannot be the script's output folder: a file, inside (or the same as) an input, or a place
    where nothing can be created; None when it can. Nothing is left behind by the check."""
    if path.exists() and not path.is_dir():
        return f"{option} {path} is a file, not a folder"
    return _inside_an_input(path, option, inputs) or _not_creatable(path, option)


def output_file_problem(path: Path, option: str, suffix: str, inputs: Iterable[Path] = ()) -> str | None:
    """Why ``path`` cannot be the script's output file (it must end in ``suffix``)."""
    if path.is_dir():
        return f"{option} {path} is a folder; give a {suffix} file"
    if path.suffix.lower() != suffix:
        return f"{option} {path} must be a {suffix} file"
    return _inside_an_input(path, option, inputs) or _not_creatable(path.parent, option)


def _inside_an_input(path: Path, option: str, inputs: Iterable[Path]) -> str | None:
    target = path.expanduser().resolve()
    for source in inputs:
        source = Path(source).expanduser().resolve()
        if target == source or source in target.parents:
            return f"{option} {path} is inside the input {source}; write it elsewhere"
    return None


def _not_creatable(path: Path, option: str) -> str | None:
    try:
        check_output_dir(path, option=option)
    except ConfigurationError as error:
        return str(error)
    return None


def whole_number(minimum: int, maximum: int | None = None):
    """An ``argparse`` type: a whole number in ``[minimum, maximum]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"{value} is not valid; it must be {bounds}")
        return value

    return parse


def say_error(script: str, message: str) -> int:
    """One line on stderr; the exit status of bad input."""
    print(f"{script}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT
