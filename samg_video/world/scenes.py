"""A synthetic text-to-video world whose truth is known: one object of a palette colour and a shape,
moving in one of four directions or still, over a plain or finely textured background.

A ``Scene`` holds the parameters; ``render`` draws its frames (uint8 RGB, hard edges, no noise) and
``prompt`` says it in words, from which ``parse_prompt`` recovers it. Everything is deterministic: a seed
gives a scene and its frames; ``scene_stream`` is the endless training stream. ``miscaption`` makes the
training captions as unreliable as real ones: some state an attribute wrongly, so the model learns a
conditional distribution that strays from the prompt, which classifier-free guidance is there to sharpen.

Every palette value lies in [40, 215], so the world itself has no clipped channel values and no colour
beyond the palette: what guidance pushes past that range is measurable as overshoot.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np

PALETTE = {
    "red": (215, 45, 45), "orange": (215, 130, 40), "yellow": (215, 205, 50), "green": (50, 175, 60),
    "cyan": (50, 200, 210), "blue": (45, 75, 215), "purple": (150, 60, 200), "white": (215, 215, 215),
}
# the dark half of textured backgrounds: inside the palette's range, so it is never clipped either
DARK = (40, 40, 40)
SHAPES = ("circle", "square", "triangle")
MOTIONS = ("left", "right", "up", "down", "still")
BACKGROUNDS = ("plain", "stripes", "checkerboard")
TEXTURE_PERIOD = 4  # pixels: 2 of the colour, 2 dark; the micro-texture SAMG claims to protect
SIZE = 32
FRAMES = 9
OBJECT_SIDE = 16  # pixels, on a 32-pixel frame
SPEED = 1.0  # pixels per frame: 8 pixels over 9 frames
# the prompt vocabulary, for a word-level tokenizer
VOCABULARY = tuple(dict.fromkeys(
    "a an moving staying still over on plain background stripes checkerboard".split()
    + list(PALETTE) + list(SHAPES) + list(MOTIONS)))
_PROMPT = re.compile(r"an? (\w+) (\w+) (?:moving (\w+)|staying still) "
                     r"(?:over (\w+) stripes|over an? (\w+) checkerboard|on a plain (\w+) background)")


# every prompt the world can state: object colour, background colour (another), shape, motion, background kind
DISTINCT_PROMPTS = len(PALETTE) * (len(PALETTE) - 1) * len(SHAPES) * len(MOTIONS) * len(BACKGROUNDS)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@dataclass(frozen=True)
class Scene:
    """The parameters of one clip. ``x`` and ``y`` are the object's centre in frame 0, in pixels."""

    colour: str
    shape: str
    motion: str
    background: str
    background_colour: str
    x: float
    y: float

    def prompt(self) -> str:
        moving = "staying still" if self.motion == "still" else f"moving {self.motion}"
        ground = (f"on a plain {self.background_colour} background" if self.background == "plain"
                  else f"over {self.background_colour} stripes" if self.background == "stripes"
                  else f"over {_article(self.background_colour)} {self.background_colour} checkerboard")
        return f"{_article(self.colour)} {self.colour} {self.shape} {moving} {ground}"

    def parameters(self) -> dict:
        return asdict(self)

    def centre(self, frame: int) -> tuple[float, float]:
        dx, dy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1), "still": (0, 0)}[self.motion]
        return self.x + dx * SPEED * frame, self.y + dy * SPEED * frame


def random_scene(rng: np.random.Generator, size: int = SIZE, frames: int = FRAMES) -> Scene:
    """A scene drawn uniformly from the world; the object stays whole inside the frame throughout."""
    colours = list(PALETTE)
    colour = colours[rng.integers(len(colours))]
    background_colour = [c for c in colours if c != colour][rng.integers(len(colours) - 1)]
    motion = MOTIONS[rng.integers(len(MOTIONS))]
    travel = SPEED * (frames - 1)
    half = OBJECT_SIDE / 2
    low, high = half + 1, size - half - 1

    def coordinate(direction: int) -> float:  # -1: moves towards 0, +1: towards size, 0: does not move
        start_low = low + (travel if direction < 0 else 0)
        start_high = high - (travel if direction > 0 else 0)
        return float(rng.uniform(start_low, start_high))

    dx, dy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1), "still": (0, 0)}[motion]
    return Scene(colour=colour, shape=SHAPES[rng.integers(len(SHAPES))], motion=motion,
                 background=BACKGROUNDS[rng.integers(len(BACKGROUNDS))], background_colour=background_colour,
                 x=coordinate(dx), y=coordinate(dy))


def miscaption(scene: Scene, rng: np.random.Generator, rate: float) -> Scene:
    """``scene`` as a noisy caption states it: each of the four attributes (colour, shape, motion, background
    kind and colour together) independently, with probability ``rate``, replaced by another valid value.

    The clip itself is not changed; only what its caption says. ``rate=0`` draws nothing from ``rng``.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"caption noise rate={rate!r} must be in [0, 1]")
    if rate == 0.0:
        return scene

    def other(values: list, current) -> object:
        choices = [value for value in values if value != current]
        return choices[rng.integers(len(choices))]

    colour, shape, motion = scene.colour, scene.shape, scene.motion
    background = (scene.background, scene.background_colour)
    if rng.random() < rate:
        colour = other([c for c in PALETTE if c != scene.background_colour], colour)
    if rng.random() < rate:
        shape = other(list(SHAPES), shape)
    if rng.random() < rate:
        motion = other(list(MOTIONS), motion)
    if rng.random() < rate:
        background = other([(kind, c) for kind in BACKGROUNDS for c in PALETTE if c != colour], background)
    return Scene(colour=colour, shape=shape, motion=motion, background=background[0],
                 background_colour=background[1], x=scene.x, y=scene.y)


def render_background(scene_or_prompt: Scene, size: int = SIZE) -> np.ndarray:
    """The ``(size, size, 3)`` uint8 background alone: what the object uncovers, the ground truth of texture."""
    colour = np.array(PALETTE[scene_or_prompt.background_colour], np.uint8)
    image = np.empty((size, size, 3), np.uint8)
    image[:] = colour
    if scene_or_prompt.background != "plain":
        columns = (np.arange(size) // (TEXTURE_PERIOD // 2)) % 2
        pattern = np.broadcast_to(columns[None, :], (size, size))  # vertical stripes
        if scene_or_prompt.background == "checkerboard":
            pattern = pattern ^ ((np.arange(size) // (TEXTURE_PERIOD // 2)) % 2)[:, None]
        image[pattern.astype(bool)] = DARK
    return image


def object_mask(shape: str, centre: tuple[float, float], size: int = SIZE) -> np.ndarray:
    """``(size, size)`` bool: the pixels whose centres lie inside the shape (hard edges)."""
    cx, cy = centre
    y, x = np.mgrid[0:size, 0:size] + 0.5
    half = OBJECT_SIDE / 2
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= half**2
    if shape == "square":
        return (np.abs(x - cx) <= half) & (np.abs(y - cy) <= half)
    if shape == "triangle":  # apex up, base at the bottom: half the square's area
        inside_rows = (y >= cy - half) & (y <= cy + half)
        return inside_rows & (np.abs(x - cx) <= (y - (cy - half)) / 2)
    raise ValueError(f"shape={shape!r} is not one of {', '.join(SHAPES)}")


def render(scene: Scene, size: int = SIZE, frames: int = FRAMES) -> np.ndarray:
    """The clip of ``scene``: ``(frames, size, size, 3)`` uint8 RGB."""
    background = render_background(scene, size)
    clip = np.repeat(background[None], frames, axis=0)
    colour = np.array(PALETTE[scene.colour], np.uint8)
    for t in range(frames):
        clip[t][object_mask(scene.shape, scene.centre(t), size)] = colour
    return clip


def parse_prompt(prompt: str) -> Scene | None:
    """The parameters a prompt of this world states (position unknown: 0), or None for any other text."""
    match = _PROMPT.fullmatch(prompt.strip())
    if match is None:
        return None
    colour, shape, motion, striped, checkered, plain = match.groups()
    background = "stripes" if striped else "checkerboard" if checkered else "plain"
    scene = Scene(colour=colour, shape=shape, motion=motion or "still", background=background,
                  background_colour=striped or checkered or plain, x=0.0, y=0.0)
    known = (scene.colour in PALETTE and scene.background_colour in PALETTE and scene.shape in SHAPES
             and scene.motion in MOTIONS)
    return scene if known else None


def scene_stream(seed: int, size: int = SIZE, frames: int = FRAMES) -> Iterator[Scene]:
    """An endless, reproducible stream of scenes."""
    rng = np.random.default_rng(seed)
    while True:
        yield random_scene(rng, size, frames)


def scene_set(count: int, seed: int, size: int = SIZE, frames: int = FRAMES) -> list[Scene]:
    """``count`` scenes of ``scene_stream(seed)``: a fixed evaluation set."""
    stream = scene_stream(seed, size, frames)
    return [next(stream) for _ in range(count)]
