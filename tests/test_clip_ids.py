"""Clip ids from prompts: readable, stable, distinct, and never a path outside the output directory."""

import re

from samg_video.files.clip_ids import clip_id, slugify

HOSTILE = [
    "../../x", "/etc/passwd", "..", ".", "a" * 10_000, "bell\x07 and\ttab\nnewline", "nul\x00byte",
    "right\u202eto-left mark", "!!!???...", "", "   ", "C:\\Windows\\system32", "~/.ssh/id_rsa",
    "名前のない動画", "emoji 🎬 clip",
]


def test_hostile_prompts_give_safe_distinct_ids():
    ids = [clip_id(prompt, "", 0) for prompt in HOSTILE]
    assert len(set(ids)) == len(ids)
    for value in ids:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", value), value
        assert len(value) <= 57 and value not in (".", "..")


def test_hostile_explicit_ids_are_sanitised_and_distinct():
    ids = [clip_id("p", "", 0, explicit) for explicit in ["a/b", "a b", "a-b", "../a-b", "..", "/", "x" * 500]]
    assert len(set(ids)) == len(ids) and max(map(len, ids)) <= 57
    assert ids[2] == "a-b"  # a clean id is kept as written
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", value) for value in ids)


def test_ids_are_readable_and_stable():
    value = clip_id("A Panda, playing Guitar!", "", 42)
    assert value.startswith("a-panda-playing-guitar-")
    assert value == clip_id("A Panda, playing Guitar!", "", 42)
    assert value != clip_id("A Panda, playing Guitar!", "", 43)
    assert value != clip_id("A Panda, playing Guitar!", "blurry", 42)


def test_slugify():
    assert slugify("Crème brûlée -- at NIGHT") == "creme-brulee-at-night"
    assert slugify("???") == "clip"
