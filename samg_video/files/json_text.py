"""JSON text that every Python string survives, written as UTF-8 and read back line by line.

``json.dumps(..., ensure_ascii=False)`` leaves two kinds of characters raw that break files of records:
lone surrogates (``"\\ud800"`` is valid JSON but cannot be encoded as UTF-8) and the Unicode line
separators U+0085, U+2028 and U+2029, on which ``str.splitlines`` (and many JSON-lines readers) split a
record. Both are written as ``\\uXXXX`` escapes, which ``json.loads`` turns back into the same string.
"""

from __future__ import annotations

import json
import re
from typing import Any

_ESCAPED = re.compile("[\u0085\u2028\u2029\ud800-\udfff]")


def json_text(data: Any, indent: int | None = None) -> str:
    """``data`` as JSON (no NaN or infinity), non-ASCII text readable, the characters above escaped."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, indent=indent)
    # these characters only occur inside JSON strings, where an escape means the same character
    return _ESCAPED.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def json_lines(text: str) -> list[str]:
    """The lines of a JSON-lines text: split on ``\\n`` only (a record may hold any other line break)."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
