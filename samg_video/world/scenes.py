"""A synthetic text-to-video world whose truth is known (world 2): two objects, each of its own palette
colour, shape and motion, over a plain background or a texture at the pixel scale or at the latent scale.

A ``Scene`` holds the parameters; ``render`` draws its frames (uint8 RGB, hard edges, no noise) and
``prompt`` says it in words ("a red circle moving right and a blue square staying still over broad green
stripes"), from which ``parse_prompt`` recovers it. Everything is deterministic: a seed gives a scene and
its frames; ``scene_stream`` is the endless training stream.

What guidance has to fix here is what it fixes in real models: attribute binding. ``miscaption`` makes the
training captions as unreliable as real ones: each attribute is misstated with some probability, and with
another the two objects' shapes are swapped, so the model learns a conditional distribution that binds
colour to shape imperfectly.

Textures come at two scales. The fine ones (period 4 pixels) are one latent cell of the toy VAE (4x
spatial compression): in the latent space where SAMG reads its energy they are no texture at all. The
coarse ones (period 8 pixels, two latent cells) are textures there too.

Every palette value lies in [40, 215], so the world itself has no clipped channel values and no colour
beyond the palette: what guidance pushes past that range is measurable as overshoot.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
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
# background kind -> (pattern, period in pixels); 0: plain
TEXTURES = {"plain": ("plain", 0), "stripes": ("stripes", 4), "checkerboard": ("checkerboard", 4),
            "broad stripes": ("stripes", 8), "large checkerboard": ("checkerboard", 8)}
BACKGROUNDS = tuple(TEXTURES)
FINE_PERIOD, COARSE_PERIOD = 4, 8  # pixels: one latent cell of the toy VAE, and two
SIZE = 32
FRAMES = 9
OBJECTS = 2
OBJECT_SIDE = 10  # pixels, on a 32-pixel frame: two and a half latent cells; 12 leaves no room for a pair moving across each other
SPEED = 1.0  # pixels per frame: 8 pixels over 9 frames
GAP = 1.0  # pixels always between the two objects, so they never touch
_STEP = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1), "still": (0, 0)}
# the prompt vocabulary, for a word-level tokenizer
VOCABULARY = tuple(dict.fromkeys(
    "a an and moving staying still over on plain background stripes checkerboard broad large".split()
    + list(PALETTE) + list(SHAPES) + list(MOTIONS)))
_OBJECT = re.compile(r"an? (\w+) (\w+) (?:moving (\w+)|staying still)")
_GROUND = re.compile(r" (?:over (broad )?(\w+) stripes|over an? (large )?(\w+) checkerboard|on a plain (\w+) background)$")

# every prompt the world can state: the two objects in their order (colours differ, shapes differ, any
# motions), the background kind, and its colour (neither object's)
DISTINCT_PROMPTS = (len(PALETTE) * (len(PALETTE) - 1) * len(SHAPES) * (len(SHAPES) - 1) * len(MOTIONS) ** 2
                    * len(BACKGROUNDS) * (len(PALETTE) - 2))


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@dataclass(frozen=True)
class SceneObject:
    """One object: ``x`` and ``y`` are its centre in frame 0, in pixels."""

    colour: str
    shape: str
    motion: str
    x: float = 0.0
    y: float = 0.0

    def phrase(self) -> str:
        moving = "staying still" if self.motion == "still" else f"moving {self.motion}"
        return f"{_article(self.colour)} {self.colour} {self.shape} {moving}"

    def centre(self, frame: int) -> tuple[float, float]:
        dx, dy = _STEP[self.motion]
        return self.x + dx * SPEED * frame, self.y + dy * SPEED * frame


@dataclass(frozen=True)
class Scene:
    """The parameters of one clip: its objects, in the order the prompt names them, and the background."""

    objects: tuple[SceneObject, ...]
    background: str
    background_colour: str

    def prompt(self) -> str:
        colour = self.background_colour
        ground = {"plain": f"on a plain {colour} background", "stripes": f"over {colour} stripes",
                  "broad stripes": f"over broad {colour} stripes",
                  "checkerboard": f"over {_article(colour)} {colour} checkerboard",
                  "large checkerboard": f"over a large {colour} checkerboard"}[self.background]
        return " and ".join(obj.phrase() for obj in self.objects) + " " + ground

    def parameters(self) -> dict:
        return asdict(self)

    @classmethod
    def from_parameters(cls, parameters: dict) -> Scene:
        """The scene whose ``parameters()`` these are."""
        objects = tuple(SceneObject(**obj) for obj in parameters["objects"])
        return cls(objects=objects, background=parameters["background"],
                   background_colour=parameters["background_colour"])

    @property
    def texture_scale(self) -> str | None:
        """"fine" (one latent cell), "coarse" (two), or None for a plain background."""
        period = TEXTURES[self.background][1]
        return None if period == 0 else "fine" if period == FINE_PERIOD else "coarse"


def _apart(a: SceneObject, b: SceneObject, frames: int) -> bool:
    """Whether the objects' squares (side ``OBJECT_SIDE``) stay ``GAP`` apart in every frame."""
    for t in range(frames):
        (ax, ay), (bx, by) = a.centre(t), b.centre(t)
        if abs(ax - bx) < OBJECT_SIDE + GAP and abs(ay - by) < OBJECT_SIDE + GAP:
            return False
    return True


def _place(rng: np.random.Generator, motion: str, size: int, frames: int) -> tuple[float, float]:
    """A start so that the object stays whole inside the frame, a pixel from its edge, throughout."""
    travel = SPEED * (frames - 1)
    low, high = OBJECT_SIDE / 2 + 1, size - OBJECT_SIDE / 2 - 1

    def coordinate(direction: int) -> float:  # -1: moves towards 0, +1: towards size, 0: does not move
        return float(rng.uniform(low + (travel if direction < 0 else 0), high - (travel if direction > 0 else 0)))

    dx, dy = _STEP[motion]
    return coordinate(dx), coordinate(dy)


def random_scene(rng: np.random.Generator, size: int = SIZE, frames: int = FRAMES) -> Scene:
    """A scene drawn uniformly from the world: two objects of different colours and shapes that never
    touch, over a background of a third colour."""
    colours = [str(c) for c in rng.permutation(list(PALETTE))[:OBJECTS + 1]]
    shapes = [str(s) for s in rng.permutation(list(SHAPES))[:OBJECTS]]
    motions = [MOTIONS[rng.integers(len(MOTIONS))] for _ in range(OBJECTS)]
    background = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    objects = tuple(SceneObject(colour, shape, motion) for colour, shape, motion in zip(colours, shapes, motions))
    return placed(Scene(objects=objects, background=background, background_colour=colours[OBJECTS]), rng, size, frames)


def placed(scene: Scene, rng: np.random.Generator, size: int = SIZE, frames: int = FRAMES) -> Scene:
    """``scene`` with its objects' start positions drawn so that they stay whole in the frame and never touch."""
    for _ in range(10_000):  # rejection: every pair of motions has room on a 32-pixel frame
        objects = tuple(replace(obj, x=x, y=y) for obj in scene.objects
                        for x, y in [_place(rng, obj.motion, size, frames)])
        if all(_apart(a, b, frames) for i, a in enumerate(objects) for b in objects[i + 1:]):
            return replace(scene, objects=objects)
    motions = [obj.motion for obj in scene.objects]
    raise ValueError(f"no room for {len(motions)} {OBJECT_SIDE}-pixel objects moving {motions} on a {size}-pixel frame")


def miscaption(scene: Scene, rng: np.random.Generator, rate: float, swap_rate: float = 0.0) -> Scene:
    """``scene`` as a noisy caption states it. Each object's colour, shape and motion, and the background
    (kind and colour together), are independently, with probability ``rate``, replaced by another value
    that keeps the caption a prompt of the world; then, with probability ``swap_rate``, the two objects'
    shapes are swapped (a binding error: every word is right, but a shape is given to the wrong colour).

    The clip itself is not changed; only what its caption says. Zero rates draw nothing from ``rng``.
    """
    for name, value in (("rate", rate), ("swap_rate", swap_rate)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"caption noise {name}={value!r} must be in [0, 1]")

    def other(values: list, current) -> object:
        choices = [value for value in values if value != current]
        return choices[rng.integers(len(choices))]

    objects = list(scene.objects)
    background = (scene.background, scene.background_colour)
    if rate > 0.0:
        for index, obj in enumerate(objects):
            taken_colours = {o.colour for o in objects if o is not obj} | {background[1]}
            taken_shapes = {o.shape for o in objects if o is not obj}
            if rng.random() < rate:
                obj = replace(obj, colour=other([c for c in PALETTE if c not in taken_colours], obj.colour))
            if rng.random() < rate:
                obj = replace(obj, shape=other([s for s in SHAPES if s not in taken_shapes], obj.shape))
            if rng.random() < rate:
                obj = replace(obj, motion=other(list(MOTIONS), obj.motion))
            objects[index] = obj
        if rng.random() < rate:
            used = {o.colour for o in objects}
            background = other([(kind, c) for kind in BACKGROUNDS for c in PALETTE if c not in used], background)
    if swap_rate > 0.0 and rng.random() < swap_rate:
        first, second = objects[0], objects[1]
        objects[0], objects[1] = replace(first, shape=second.shape), replace(second, shape=first.shape)
    return Scene(objects=tuple(objects), background=background[0], background_colour=background[1])


def texture_pattern(background: str, size: int = SIZE) -> np.ndarray:
    """``(size, size)`` bool: the dark pixels of a background kind (none for plain)."""
    pattern, period = TEXTURES[background]
    if pattern == "plain":
        return np.zeros((size, size), bool)
    bands = (np.arange(size) // (period // 2)) % 2
    dark = np.broadcast_to(bands[None, :], (size, size)).astype(bool)  # vertical stripes
    if pattern == "checkerboard":
        dark = dark ^ bands[:, None].astype(bool)
    return dark


def render_background(scene: Scene, size: int = SIZE) -> np.ndarray:
    """The ``(size, size, 3)`` uint8 background alone: what the objects uncover, the ground truth of texture."""
    image = np.empty((size, size, 3), np.uint8)
    image[:] = np.array(PALETTE[scene.background_colour], np.uint8)
    image[texture_pattern(scene.background, size)] = DARK
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


def objects_mask(scene: Scene, size: int = SIZE, frames: int = FRAMES) -> np.ndarray:
    """``(frames, size, size)`` bool: the pixels of any object."""
    return np.stack([np.logical_or.reduce([object_mask(o.shape, o.centre(t), size) for o in scene.objects])
                     for t in range(frames)])


def render(scene: Scene, size: int = SIZE, frames: int = FRAMES) -> np.ndarray:
    """The clip of ``scene``: ``(frames, size, size, 3)`` uint8 RGB."""
    background = render_background(scene, size)
    clip = np.repeat(background[None], frames, axis=0)
    for obj in scene.objects:
        colour = np.array(PALETTE[obj.colour], np.uint8)
        for t in range(frames):
            clip[t][object_mask(obj.shape, obj.centre(t), size)] = colour
    return clip


def parse_prompt(prompt: str) -> Scene | None:
    """The parameters a prompt of this world states (positions unknown: 0), or None for any other text."""
    text = prompt.strip()
    ground = _GROUND.search(text)
    if ground is None:
        return None
    broad, striped, large, checkered, plain = ground.groups()
    background = ("broad stripes" if broad else "stripes") if striped else (
        ("large checkerboard" if large else "checkerboard") if checkered else "plain")
    phrases = text[:ground.start()].split(" and ")
    objects = []
    for phrase in phrases:
        match = _OBJECT.fullmatch(phrase)
        if match is None:
            return None
        colour, shape, motion = match.groups()
        objects.append(SceneObject(colour, shape, motion or "still"))
    scene = Scene(objects=tuple(objects), background=background, background_colour=striped or checkered or plain)
    colours = [o.colour for o in objects] + [scene.background_colour]
    known = (all(c in PALETTE for c in colours) and len(set(colours)) == len(colours)
             and all(o.shape in SHAPES and o.motion in MOTIONS for o in objects))
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
