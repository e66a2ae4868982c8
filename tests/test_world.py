"""The synthetic world: deterministic scenes and prompts, and its ground-truth metrics."""

import cv2
import numpy as np
import pytest

from datamodules.world import WorldClips
from samg_video.metrics.suite import MetricSuite
from samg_video.metrics.world import palette_overshoot, recover_scene, world_metrics
from samg_video.world.scenes import (
    FRAMES,
    MOTIONS,
    OBJECT_SIDE,
    PALETTE,
    SHAPES,
    SIZE,
    Scene,
    miscaption,
    object_mask,
    parse_prompt,
    render,
    scene_set,
)


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
        parsed = parse_prompt(scene.prompt())
        assert (parsed.colour, parsed.shape, parsed.motion, parsed.background, parsed.background_colour) == (
            scene.colour, scene.shape, scene.motion, scene.background, scene.background_colour)
        assert scene.colour != scene.background_colour
    # every value of every attribute occurs
    assert {s.shape for s in scenes} == set(SHAPES) and {s.motion for s in scenes} == set(MOTIONS)
    assert {s.colour for s in scenes} == set(PALETTE)
    assert Scene("orange", "circle", "still", "checkerboard", "blue", 16, 16).prompt() == (
        "an orange circle staying still over a blue checkerboard")
    assert parse_prompt("a red panda walking in a bamboo forest") is None
    assert parse_prompt("a golden circle moving left over blue stripes") is None  # not a palette colour


def test_noisy_captions_misstate_each_attribute_at_the_set_rate_and_leave_the_truth_alone():
    scenes = scene_set(4000, 2)
    rng = np.random.default_rng(0)
    captions = [miscaption(scene, rng, 0.2) for scene in scenes]
    for attribute in ("colour", "shape", "motion"):
        wrong = np.mean([getattr(c, attribute) != getattr(s, attribute) for c, s in zip(captions, scenes)])
        assert 0.17 < wrong < 0.23, attribute
    wrong = np.mean([(c.background, c.background_colour) != (s.background, s.background_colour)
                     for c, s in zip(captions, scenes)])
    assert 0.17 < wrong < 0.23
    # every caption is still a valid prompt of the world, with the clip's position
    assert all(parse_prompt(c.prompt()) is not None and c.colour != c.background_colour for c in captions)
    assert all((c.x, c.y) == (s.x, s.y) for c, s in zip(captions, scenes))
    # no noise: the truth, and nothing drawn, so a noiseless stream is the stream it always was
    state = rng.bit_generator.state
    assert miscaption(scenes[0], rng, 0.0) == scenes[0] and rng.bit_generator.state == state
    # in the training stream: the caption misstates, the clip and its parameters are the truth
    noisy = next(iter(WorldClips(seed=5, empty_prompt_fraction=0.0, caption_noise=1.0)))
    clean = next(iter(WorldClips(seed=5, empty_prompt_fraction=0.0)))
    truth, stated = Scene(**noisy["scene"]), parse_prompt(noisy["prompt"])
    assert noisy["scene"] == clean["scene"] and np.array_equal(noisy["video"].numpy(), clean["video"].numpy())
    assert clean["prompt"] == truth.prompt()
    assert stated.colour != truth.colour and stated.shape != truth.shape and stated.motion != truth.motion
    assert (stated.background, stated.background_colour) != (truth.background, truth.background_colour)
    with pytest.raises(ValueError, match="caption_noise=1.5 must be in"):
        WorldClips(caption_noise=1.5)


def test_clips_keep_the_object_whole_and_inside_the_palette_range():
    for scene in scene_set(200, 1):
        clip = render(scene)
        assert clip.shape == (FRAMES, SIZE, SIZE, 3) and clip.dtype == np.uint8
        assert clip.min() >= 40 and clip.max() <= 215  # no clipped values, nothing beyond the palette
        for t in range(FRAMES):  # whole in every frame: nothing of it falls outside, seen on a larger canvas
            x, y = scene.centre(t)
            assert object_mask(scene.shape, (x, y)).sum() == object_mask(scene.shape, (x + 8, y + 8), SIZE + 16).sum()
        assert (clip[:, :, :] == PALETTE[scene.colour]).all(-1).sum((1, 2)).min() >= 0.4 * OBJECT_SIDE**2


def test_adherence_recovers_the_truth_on_the_worlds_own_clips():
    scenes = scene_set(400, 11)
    correct = [world_metrics(render(scene), scene.prompt())["world_all_correct"].value for scene in scenes]
    assert np.mean(correct) >= 0.99


def test_adherence_scores_each_attribute_against_the_prompt():
    scene = Scene("red", "square", "right", "stripes", "blue", 12.0, 16.0)
    clip = render(scene)
    assert recover_scene(clip)["motion"] == "right"
    wrong_shape_and_motion = Scene("red", "circle", "left", "stripes", "blue", 0, 0).prompt()
    result = world_metrics(clip, wrong_shape_and_motion)
    assert (result["world_colour"].value, result["world_shape"].value, result["world_motion"].value,
            result["world_background"].value) == (1.0, 0.0, 0.0, 1.0)
    assert result["world_adherence"].value == 0.5 and result["world_all_correct"].value == 0.0
    plain_instead = Scene("red", "square", "right", "plain", "blue", 0, 0).prompt()
    assert world_metrics(clip, plain_instead)["world_background"].value == 0.0


def test_texture_fidelity_is_one_for_the_truth_and_falls_when_the_texture_washes_out():
    scene = Scene("yellow", "circle", "down", "checkerboard", "purple", 16.0, 10.0)
    clip = render(scene)
    assert world_metrics(clip, scene.prompt(), ("texture_fidelity",))["texture_fidelity"].value == pytest.approx(1.0)
    blurred = np.stack([cv2.GaussianBlur(frame, (0, 0), 1.5) for frame in clip])
    assert world_metrics(blurred, scene.prompt(), ("texture_fidelity",))["texture_fidelity"].value < 0.5


def test_palette_overshoot_by_hand():
    frame = np.full((1, 2, 2, 3), 100, np.uint8)
    frame[0, 0, 0] = (0, 255, 40)  # 40 below, 40 above, 0
    frame[0, 0, 1] = (215, 216, 30)  # 0, 1, 10
    assert palette_overshoot(frame).value == pytest.approx((40 + 40 + 1 + 10) / 12)


def test_suite_gives_world_metrics_of_foreign_prompts_as_null_with_the_reason():
    suite = MetricSuite(["world_adherence", "texture_fidelity", "palette_overshoot"])
    clip = render(scene_set(1, 0)[0])
    record = suite(clip, "a red panda walking in a bamboo forest")
    assert record["world_adherence"] is None and record["palette_overshoot"] == 0.0
    assert record["null_reasons"]["world_adherence"] == "the prompt is not one of the synthetic world"
    plain = Scene("red", "square", "still", "plain", "blue", 16.0, 16.0)
    record = suite(render(plain), plain.prompt())
    assert record["world_adherence"] == 1.0 and record["texture_fidelity"] is None
    assert record["null_reasons"]["texture_fidelity"] == "the prompt's background is plain"
    assert record["world_recovered"]["shape"] == "square"
