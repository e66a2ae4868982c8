"""Clip ids: readable, stable, distinct file names that can never leave the output directory."""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_SLUG_LENGTH = 48
SUFFIX_LENGTH = 8
MAX_ID_LENGTH = MAX_SLUG_LENGTH + 1 + SUFFIX_LENGTH


def slugify(text: str, max_length: int = MAX_SLUG_LENGTH) -> str:
    """Lower-case ASCII letters, digits and single dashes; never empty, never a path."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].rstrip("-") or "clip"


def stable_suffix(*parts: object) -> str:
    """A short hash of the parts, the same on every machine and Python run."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:SUFFIX_LENGTH]


def clip_id(prompt: str, negative_prompt: str, seed: int, explicit_id: str | None = None) -> str:
    """``<slug of the prompt>-<hash of prompt, negative prompt and seed>``, or a sanitised explicit id."""
    if explicit_id is not None:
        if slugify(explicit_id, max_length=MAX_ID_LENGTH) == explicit_id:
            return explicit_id  # already a safe id: kept as written
        # sanitised ids get a hash, so distinct ids stay distinct ("a/b" and "a b" both slug to "a-b")
        return f"{slugify(explicit_id)}-{stable_suffix(explicit_id)}"
    return f"{slugify(prompt)}-{stable_suffix(prompt, negative_prompt, seed)}"
