"""The synthetic world: deterministic scenes and prompts, and its ground-truth metrics."""

import cv2
import numpy as np
import pytest

from datamodules.world import WorldClips
from samg_video.metrics.suite import MetricSuite
from samg_video.metrics.world import palette_overshoot, recover_scene, world_metrics
from samg_video.world.scenes import (
    BACKGROUNDS,
    FRAMES,
    GAP,
    MOTIONS,
    OBJECT_SIDE,
    PALETTE,
    SHAPES,
    SIZE,
    Scene,
    SceneObject,
    miscaption,
    object_mask,
    parse_prompt,
    render,
    scene_set,
    texture_pattern,
)


def _stated(scene: Scene) -> tuple:
    """What a prompt can state of a scene: everything but the positions."""
    return (tuple((o.colour, o.shape, o.motion) for o in scene.objects), scene.background, scene.background_colour)


def test_the_world_is_deterministic_from_its_seed():
    first, again, other = scene_set(20, 3), scene_set(20, 3), scene_set(20, 4)
    assert first == again and first != other
    assert all(np.array_equal(render(a), render(b)) for a, b in zip(first, again))
    batches = [next(iter(WorldClips(seed=5))) for _ in range(2)]
    assert batches[0]["prompt"] == batches[1]["prompt"]
    assert np.array_equal(batches[0]["video"].numpy(), batches[1]["video"].numpy())


def test_prompts_state_the_parameters_and_parse_back():
    scenes = scene_set(500, 0)
    for scene in scenes:
        assert _stated(parse_prompt(scene.prompt())) == _stated(scene)
        first, second = scene.objects
        assert len({first.colour, second.colour, scene.background_colour}) == 3 and first.shape != second.shape
    # every value of every attribute occurs
    objects = [o for s in scenes for o in s.objects]
    assert {o.shape for o in objects} == set(SHAPES) and {o.motion for o in objects} == set(MOTIONS)
    assert {o.colour for o in objects} == set(PALETTE) and {s.background for s in scenes} == set(BACKGROUNDS)
    scene = Scene((SceneObject("orange", "circle", "still"), SceneObject("red", "square", "left")),
                  "large checkerboard", "blue")
    assert scene.prompt() == "an orange circle staying still and a red square moving left over a large blue checkerboard"
    assert Scene.from_parameters(scene.parameters()) == scene
    assert parse_prompt("a red panda walking in a bamboo forest") is None
    assert parse_prompt("a golden circle moving left and a red square staying still over blue stripes") is None
    assert parse_prompt("a red circle moving left and a red square staying still over blue stripes") is None
    assert parse_prompt("a red circle moving left and a green square staying still over broad blue stripes").background \
        == "broad stripes"


def test_noisy_captions_misstate_each_attribute_at_the_set_rate_and_leave_the_truth_alone():
    scenes = scene_set(3000, 2)
    rng = np.random.default_rng(0)
    captions = [miscaption(scene, rng, 0.2) for scene in scenes]
    for attribute in ("colour", "shape", "motion"):
        wrong = np.mean([getattr(c.objects[0], attribute) != getattr(s.objects[0], attribute)
                         for c, s in zip(captions, scenes)])
        assert 0.17 < wrong < 0.23, attribute
    wrong = np.mean([(c.background, c.background_colour) != (s.background, s.background_colour)
                     for c, s in zip(captions, scenes)])
    assert 0.17 < wrong < 0.23
    # every caption is still a valid prompt of the world, with the clip's positions
    assert all(parse_prompt(c.prompt()) is not None for c in captions)
    assert all([(o.x, o.y) for o in c.objects] == [(o.x, o.y) for o in s.objects] for c, s in zip(captions, scenes))
    # a binding error swaps the shapes and keeps every word
    swapped = [miscaption(scene, rng, 0.0, 0.3) for scene in scenes]
    swaps = [c != s for c, s in zip(swapped, scenes)]
    assert 0.27 < np.mean(swaps) < 0.33
    for caption, scene in zip(swapped, scenes):
        if caption != scene:
            assert [o.shape for o in caption.objects] == [o.shape for o in scene.objects][::-1]
            assert [(o.colour, o.motion) for o in caption.objects] == [(o.colour, o.motion) for o in scene.objects]
    # no noise: the truth, and nothing drawn, so a noiseless stream is the stream it always was
    state = rng.bit_generator.state
    assert miscaption(scenes[0], rng, 0.0) == scenes[0] and rng.bit_generator.state == state
    # in the training stream: the caption misstates, the clip and its parameters are the truth
    noisy = next(iter(WorldClips(seed=5, empty_prompt_fraction=0.0, caption_noise=1.0)))
    clean = next(iter(WorldClips(seed=5, empty_prompt_fraction=0.0)))
    truth, stated = Scene.from_parameters(noisy["scene"]), parse_prompt(noisy["prompt"])
    assert noisy["scene"] == clean["scene"] and np.array_equal(noisy["video"].numpy(), clean["video"].numpy())
    assert clean["prompt"] == truth.prompt()
    for said, real in zip(stated.objects, truth.objects):
        assert said.colour != real.colour and said.shape != real.shape and said.motion != real.motion
    assert (stated.background, stated.background_colour) != (truth.background, truth.background_colour)
    with pytest.raises(ValueError, match="caption_noise=1.5 must be in"):
        WorldClips(caption_noise=1.5)
    with pytest.raises(ValueError, match="binding_noise=-0.1 must be in"):
        WorldClips(binding_noise=-0.1)


def test_clips_keep_the_objects_whole_apart_and_inside_the_palette_range():
    for scene in scene_set(200, 1):
        clip = render(scene)
        assert clip.shape == (FRAMES, SIZE, SIZE, 3) and clip.dtype == np.uint8
        assert clip.min() >= 40 and clip.max() <= 215  # no clipped values, nothing beyond the palette
        for t in range(FRAMES):
            (ax, ay), (bx, by) = (obj.centre(t) for obj in scene.objects)
            assert abs(ax - bx) >= OBJECT_SIDE + GAP or abs(ay - by) >= OBJECT_SIDE + GAP  # never touching
            for obj in scene.objects:  # whole in every frame: nothing of it falls outside, seen on a larger canvas
                x, y = obj.centre(t)
                inside = object_mask(obj.shape, (x, y))
                assert inside.sum() == object_mask(obj.shape, (x + 8, y + 8), SIZE + 16).sum()
                assert (clip[t][inside] == PALETTE[obj.colour]).all()


def test_textures_have_their_periods_and_the_two_scales_are_orthogonal():
    stripes, broad = texture_pattern("stripes")[0], texture_pattern("broad stripes")[0]
    assert stripes[:8].tolist() == [False, False, True, True] * 2 and broad[:8].tolist() == [False] * 4 + [True] * 4
    patterns = [texture_pattern(kind).astype(float) - 0.5 for kind in BACKGROUNDS if kind != "plain"]
    for i, a in enumerate(patterns):
        for b in patterns[i + 1:]:
            assert (a * b).sum() == 0.0


def test_adherence_recovers_the_truth_on_the_worlds_own_clips():
    scenes = scene_set(400, 11)
    correct = [world_metrics(render(scene), scene.prompt())["world_all_correct"].value for scene in scenes]
    assert np.mean(correct) >= 0.99


def test_adherence_scores_each_object_and_the_binding_against_the_prompt():
    scene = Scene((SceneObject("red", "square", "right", 8.0, 8.0), SceneObject("green", "circle", "still", 20.0, 22.0)),
                  "stripes", "blue")
    clip = render(scene)
    seen = recover_scene(clip, ["red", "green", "yellow"])
    assert seen["objects"]["red"]["motion"] == "right" and seen["objects"]["green"]["shape"] == "circle"
    assert seen["objects"]["yellow"] is None and seen["background"] == "stripes"

    def scores(prompt: str) -> tuple:
        result = world_metrics(clip, prompt)
        return tuple(result[name].value for name in ("world_colour", "world_shape", "world_motion", "world_binding",
                                                      "world_background", "world_adherence", "world_all_correct"))

    assert scores(scene.prompt()) == (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    # the shapes given to the wrong colours: every word is in the clip, but the binding is wrong
    swapped = "a red circle moving right and a green square staying still over blue stripes"
    assert scores(swapped) == (1.0, 0.0, 1.0, 0.0, 1.0, 0.6, 0.0)
    # one object missing (no yellow in the clip): its shape and motion are wrong too
    assert scores("a red square moving right and a yellow circle staying still over blue stripes") == (
        0.5, 0.5, 0.5, 0.0, 1.0, 0.5, 0.0)
    assert scores("a red square moving right and a green circle staying still over broad blue stripes")[4] == 0.0
    assert scores("a red square moving right and a green circle staying still on a plain blue background")[4] == 0.0


def test_texture_fidelity_is_one_for_the_truth_and_falls_when_the_texture_washes_out():
    for background, blur in (("checkerboard", 1.5), ("large checkerboard", 3.0)):
        scene = Scene((SceneObject("yellow", "circle", "down", 16.0, 8.0), SceneObject("red", "square", "still", 8.0, 25.0)),
                      background, "purple")
        names = ("texture_fidelity", "texture_fidelity_fine", "texture_fidelity_coarse")
        result = world_metrics(render(scene), scene.prompt(), names)
        scale = "fine" if background == "checkerboard" else "coarse"
        assert set(result) == {"texture_fidelity", f"texture_fidelity_{scale}"}  # only the prompt's scale
        assert result["texture_fidelity"].value == pytest.approx(1.0)
        blurred = np.stack([cv2.GaussianBlur(frame, (0, 0), blur) for frame in render(scene)])
        assert world_metrics(blurred, scene.prompt(), names)[f"texture_fidelity_{scale}"].value < 0.5


def test_palette_overshoot_by_hand():
    frame = np.full((1, 2, 2, 3), 100, np.uint8)
    frame[0, 0, 0] = (0, 255, 40)  # 40 below, 40 above, 0
    frame[0, 0, 1] = (215, 216, 30)  # 0, 1, 10
    assert palette_overshoot(frame).value == pytest.approx((40 + 40 + 1 + 10) / 12)


def test_suite_gives_world_metrics_of_foreign_prompts_and_other_textures_as_null_with_the_reason():
    suite = MetricSuite(["world_adherence", "texture_fidelity", "texture_fidelity_coarse", "palette_overshoot"])
    clip = render(scene_set(1, 0)[0])
    record = suite(clip, "a red panda walking in a bamboo forest")
    assert record["world_adherence"] is None and record["palette_overshoot"] == 0.0
    assert record["null_reasons"]["world_adherence"] == "the prompt is not one of the synthetic world"
    objects = (SceneObject("red", "square", "still", 8.0, 8.0), SceneObject("white", "triangle", "up", 22.0, 22.0))
    plain = Scene(objects, "plain", "blue")
    record = suite(render(plain), plain.prompt())
    assert record["world_adherence"] == 1.0 and record["texture_fidelity"] is None
    assert record["null_reasons"]["texture_fidelity"] == "the prompt's background is plain"
    assert record["world_recovered"]["objects"][1] == {"colour": "white", "shape": "triangle", "motion": "up"}
    fine = Scene(objects, "stripes", "blue")
    record = suite(render(fine), fine.prompt())
    assert record["texture_fidelity"] == pytest.approx(1.0) and record["texture_fidelity_coarse"] is None
    assert record["null_reasons"]["texture_fidelity_coarse"] == "the prompt's texture is fine"


def test_the_contact_sheets_world_clip_shows_the_prompt():
    from cli_runs import load_script

    sheet = load_script("contact_sheet")
    for scene in scene_set(20, 8):
        clip = sheet.world_clip(scene.prompt(), np.zeros((FRAMES, SIZE, SIZE, 3), np.uint8))
        assert world_metrics(clip, scene.prompt())["world_all_correct"].value == 1.0
    assert (sheet.world_clip("a red panda", np.zeros((FRAMES, SIZE, SIZE, 3), np.uint8)) == 128).all()
