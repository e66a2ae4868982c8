"""Metric functions against their reference definitions (../shared/reference/metrics.md) on inputs whose
answer is known, and against straightforward re-implementations."""

import logging
import warnings

import cv2
import numpy as np
import pytest
import torch

from samg_video.errors import ConfigurationError
from samg_video.metrics import (
    MetricInputError,
    TemporalLPIPS,
    make_flow_backend,
    occlusion_mask,
    pair_warping_errors,
    temporal_flickering,
    warp,
    warping_error,
)
from samg_video.metrics.statistics import (
    describe_values,
    paired_difference,
    summarize_records,
)
from samg_video.metrics.suite import MetricSuite


def textured_scene(height, width, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 2.0)


def panning_clip(frames=6, height=64, width=96, dy=1, dx=2):
    """A camera pan over a smooth texture: frame t is the window shifted by t * (dy, dx) pixels."""
    scene = textured_scene(height + frames * dy, width + frames * dx)
    return np.stack([scene[t * dy:t * dy + height, t * dx:t * dx + width] for t in range(frames)])


# ---- flicker (VBench) --------------------------------------------------------------------------
def test_flicker_of_a_static_clip_is_exactly_one():
    clip = np.stack([textured_scene(24, 40)] * 5)
    result = temporal_flickering(clip)
    assert result.value == 1.0 and result.details["mean_abs_diff"] == 0.0 and result.per_pair == [1.0] * 4
    assert result.details["mean_abs_diff_per_pair"] == [0.0] * 4


def test_flicker_of_a_brightness_ramp_matches_the_hand_computed_value():
    levels = [0, 10, 30, 60]  # |differences| 10, 20, 30 everywhere: MAE_t = 10, 20, 30, mean 20
    clip = np.stack([np.full((8, 12, 3), level, dtype=np.uint8) for level in levels])
    result = temporal_flickering(clip)
    assert result.details["mean_abs_diff_per_pair"] == [10.0, 20.0, 30.0]
    # per pair on the score's own scale, so that the score is their mean
    assert result.per_pair == pytest.approx([245 / 255, 235 / 255, 225 / 255], abs=1e-15)
    assert result.value == pytest.approx((255 - 20) / 255, abs=1e-15)
    assert result.value == pytest.approx(np.mean(result.per_pair), abs=1e-15)


def test_flicker_matches_the_vbench_formula_on_random_frames():
    clip = np.random.default_rng(3).integers(0, 256, (5, 17, 23, 3), dtype=np.uint8)
    diffs = [np.mean(np.abs(clip[t + 1].astype(np.float64) - clip[t])) for t in range(4)]
    assert temporal_flickering(clip).value == pytest.approx((255 - np.mean(diffs)) / 255, abs=1e-12)


@pytest.mark.parametrize("frames, message", [
    (np.zeros((1, 8, 8, 3), np.uint8), "at least 2 frames"),
    (np.zeros((3, 8, 8, 3), np.float32), "uint8"),
    (np.zeros((3, 8, 8), np.uint8), "(T, H, W, 3)"),
])
def test_bad_frames_get_a_clear_error(frames, message):
    with pytest.raises(MetricInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        temporal_flickering(frames)


# ---- warping error (Lai et al.) ----------------------------------------------------------------
def naive_sample(image, y, x):
    """Bilinear sample of ``image[H, W, C]`` at (y, x), the position clamped to the image."""
    height, width = image.shape[:2]
    y, x = min(max(y, 0.0), height - 1.0), min(max(x, 0.0), width - 1.0)
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    y1, x1 = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
    ay, ax = y - y0, x - x0
    return ((1 - ay) * (1 - ax) * image[y0, x0] + (1 - ay) * ax * image[y0, x1]
            + ay * (1 - ax) * image[y1, x0] + ay * ax * image[y1, x1])


def naive_pair(first, second, fw, bw):
    """Lai et al.'s pair error, pixel by pixel in float64: images (H, W, 3), flows (H, W, 2) as (u, v)."""
    height, width = first.shape[:2]
    occluded = np.zeros((height, width), bool)
    squared = 0.0
    for y in range(height):
        for x in range(width):
            u, v = fw[y, x]
            b = naive_sample(bw, y + v, x + u)
            m1 = (u + b[0]) ** 2 + (v + b[1]) ** 2 > 0.01 * (u * u + v * v + b[0] ** 2 + b[1] ** 2) + 0.5
            du = fw[y, x + 1] - fw[y, x] if x + 1 < width else np.zeros(2)
            dv = fw[y + 1, x] - fw[y, x] if y + 1 < height else np.zeros(2)
            m2 = du[0] ** 2 + du[1] ** 2 + dv[0] ** 2 + dv[1] ** 2 > 0.01 * (u * u + v * v) + 0.002
            occluded[y, x] = m1 or m2
            if not occluded[y, x]:
                squared += np.sum((naive_sample(second, y + v, x + u) - first[y, x]) ** 2)
    visible = (~occluded).sum()
    return occluded, squared / (3 * (visible if visible else height * width))


@pytest.mark.parametrize("motion", [(0.7, -0.4), (2.5, 1.2)])
def test_occlusion_mask_and_pair_error_match_a_straightforward_implementation(motion):
    rng = np.random.default_rng(7)
    height, width = 6, 7
    first, second = rng.random((2, height, width, 3))
    fw = np.array(motion) + rng.normal(0, 0.01, (height, width, 2))  # a smooth global motion...
    bw = -np.array(motion) + rng.normal(0, 0.01, (height, width, 2))
    fw[2:4, 2:5] += 3.0  # ...and a patch moving differently: motion boundaries, inconsistent flows
    expected_mask, expected_error = naive_pair(first, second, fw, bw)

    def to_t(a):
        return torch.from_numpy(a).permute(2, 0, 1)[None].float()

    mask = occlusion_mask(to_t(fw), to_t(bw))[0].numpy()
    errors, used_mask = pair_warping_errors(to_t(first), to_t(second), to_t(fw), to_t(bw))
    assert 0 < expected_mask.sum() < height * width  # the example exercises both outcomes
    assert (mask == expected_mask).all() and (used_mask[0].numpy() == expected_mask).all()
    assert float(errors[0]) == pytest.approx(expected_error, rel=1e-5, abs=1e-9)


def test_warp_clamps_sample_positions_to_the_image():
    image = torch.arange(12.0).reshape(1, 1, 3, 4)
    flow = torch.zeros(1, 2, 3, 4)
    flow[:, 0] = 10.0  # far right: every row samples its last pixel
    assert torch.equal(warp(image, flow)[0, 0], image[0, 0, :, 3:].expand(3, 4))
    flow[:, 0] = -0.5  # half a pixel left of column 0 is column 0
    assert torch.allclose(warp(image, flow)[0, 0, :, 0], image[0, 0, :, 0])


def test_warping_error_of_a_static_textured_clip_is_zero():
    clip = np.stack([textured_scene(48, 64)] * 4)
    result = warping_error(clip, make_flow_backend("dis"))
    assert result.value < 1e-12 and len(result.per_pair) == 3
    assert result.details["flow_backend"] == "dis_medium"


def test_warping_error_of_a_panning_clip_is_small_and_of_noise_large():
    dis = make_flow_backend("dis")
    panning = warping_error(panning_clip(), dis)
    noise = warping_error(np.random.default_rng(1).integers(0, 256, (6, 64, 96, 3), dtype=np.uint8), dis)
    assert panning.value < 1e-3
    assert noise.value > 0.05


def test_flow_backends_recover_a_known_translation():
    clip = panning_clip(frames=2, dy=1, dx=2)
    for name in ("dis", "farneback"):
        flow = make_flow_backend(name)(clip[:1], clip[1:])
        # frame 1 is frame 0 moved by (-2, -1): f0(x) = f1(x + (-2, -1))
        centre = flow[0, 16:-16, 16:-16]
        assert np.abs(np.median(centre[..., 0]) + 2) < 0.1 and np.abs(np.median(centre[..., 1]) + 1) < 0.1, name


def test_warping_error_on_worker_threads_equals_one_thread_exactly(monkeypatch):
    from samg_video.metrics import flow as flow_module

    clip = panning_clip(frames=11)  # 10 pairs: 3 chunks, one of them short
    torch_threads = torch.get_num_threads()
    threaded = warping_error(clip, make_flow_backend("dis"))
    assert torch.get_num_threads() == torch_threads  # the workers set their own torch threads only
    monkeypatch.setattr(flow_module._OpenCVFlow, "workers", 1)
    one_thread = warping_error(clip, make_flow_backend("dis"))
    assert threaded.per_pair == one_thread.per_pair and len(threaded.per_pair) == 10
    assert threaded.details == one_thread.details


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (9, 40)])
def test_warping_error_takes_frames_of_any_size(size):
    clip = np.random.default_rng(0).integers(0, 256, (3, *size, 3), dtype=np.uint8)
    for name in ("dis", "farneback"):
        result = warping_error(clip, make_flow_backend(name))
        assert np.isfinite(result.value) and len(result.per_pair) == 2


def test_unknown_flow_backend_and_missing_raft_weights_are_configuration_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ConfigurationError, match="flow_backend='flownet'.*dis, farneback, raft_large, raft_small"):
        make_flow_backend("flownet")
    with pytest.raises(ConfigurationError, match="raft_weights"):
        make_flow_backend("raft_small")
    with pytest.raises(ConfigurationError, match="no such file"):
        make_flow_backend("raft_small", raft_weights=str(tmp_path / "missing.pth"))
    with pytest.raises(ConfigurationError, match="dis_preset='slow'"):
        make_flow_backend("dis", dis_preset="slow")


def test_raft_runs_from_a_local_weights_file_on_any_size(tmp_path):
    from safetensors.torch import save_file
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path / "raft_small.safetensors"
    save_file(raft_small(weights=None).state_dict(), str(path))  # random weights: the code path, not accuracy
    backend = make_flow_backend("raft_small", raft_weights=str(path))
    clip = panning_clip(frames=2, height=70, width=90)
    flow = backend(clip[:1], clip[1:])
    assert backend.name == "raft_small" and flow.shape == (1, 70, 90, 2) and flow.dtype == np.float32


# ---- temporal LPIPS ----------------------------------------------------------------------------
def test_temporal_lpips_with_a_seeded_random_trunk_is_zero_for_identical_frames():
    metric = TemporalLPIPS(random_trunk_seed=0)
    static = np.stack([textured_scene(64, 64)] * 3)
    assert metric(static).value == 0.0
    moving = panning_clip(frames=3, height=64, width=64)
    value = metric(moving).value
    assert value > 0 and TemporalLPIPS(random_trunk_seed=0)(moving).value == value  # seeded: deterministic
    assert "testing only" in metric.trunk


def test_temporal_lpips_without_trunk_weights_is_null_with_reason_after_one_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING):
        suite = MetricSuite(metrics=["flicker", "temporal_lpips"])
        records = [suite(panning_clip(frames=3)) for _ in range(3)]
    assert sum("temporal LPIPS is unavailable" in r.getMessage() for r in caplog.records) == 1
    for record in records:
        assert record["temporal_lpips"] is None and "lpips_weights" in record["null_reasons"]["temporal_lpips"]
        assert record["flicker"] is not None


def test_temporal_lpips_loads_the_trunk_from_a_safetensors_file(tmp_path):
    from safetensors.torch import save_file
    from torchvision.models import alexnet

    torch.manual_seed(1)
    reference = alexnet(weights=None).state_dict()
    path = tmp_path / "alexnet.safetensors"
    save_file(reference, str(path))
    metric = TemporalLPIPS(weights=str(path))
    assert metric.available and metric.trunk == str(path)
    assert torch.equal(metric.network.net.slice1[0].weight, reference["features.0.weight"])
    assert torch.equal(getattr(metric.network.net.slice5, "10").weight, reference["features.10.weight"])
    save_file({"something": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ConfigurationError, match="does not hold torchvision alex weights"):
        TemporalLPIPS(weights=str(tmp_path / "other.safetensors"))


def test_a_pickle_file_given_by_path_is_refused_and_the_converter_makes_it_loadable(tmp_path, capsys):
    from cli_runs import load_script
    from torchvision.models import alexnet

    reference = alexnet(weights=None).state_dict()
    pickled = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(reference, pickled)
    with pytest.raises(ConfigurationError, match=r"only .safetensors files are loaded from a path you give .* "
                                                 r"scripts/convert_weights.py"):
        TemporalLPIPS(weights=str(pickled))
    converted = tmp_path / "alexnet.safetensors"
    load_script("convert_weights").main([str(pickled), str(converted)])  # in this process: the suite stays fast
    assert f"to {converted}" in capsys.readouterr().out and converted.stat().st_mode & 0o044 == 0o044  # readable
    assert torch.equal(TemporalLPIPS(weights=str(converted)).network.net.slice1[0].weight,
                       reference["features.0.weight"])


def test_hub_cache_pth_is_read_only_when_it_matches_its_published_hash(tmp_path, monkeypatch):
    from torchvision.models import alexnet

    from samg_video.metrics.temporal_lpips import trunk_weights_url
    from samg_video.metrics.weights import hub_cache_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = hub_cache_file(trunk_weights_url("alex"))  # .../alexnet-owt-7be5be79.pth
    cached.parent.mkdir(parents=True)
    torch.save(alexnet(weights=None).state_dict(), cached)  # not the published file: another hash
    with pytest.raises(ConfigurationError, match="SHA-256 does not start with the hash in its name"):
        TemporalLPIPS()
    from samg_video.files.resume import file_sha256
    from samg_video.metrics.weights import read_state_dict

    genuine = cached.with_name(f"alexnet-{file_sha256(cached)[:8]}.pth")  # a name that matches its content
    cached.rename(genuine)
    assert set(read_state_dict(genuine)) == set(alexnet(weights=None).state_dict())


# ---- the per-clip record and the summaries -----------------------------------------------------
def test_a_one_frame_clip_gives_nulls_with_reasons():
    record = MetricSuite(metrics=["flicker", "warping_error"])(np.zeros((1, 16, 16, 3), np.uint8))
    assert record["flicker"] is None and record["warping_error"] is None
    assert "at least 2 frames" in record["null_reasons"]["flicker"]


def test_unknown_metric_name_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="flicker, warping_error, temporal_lpips"):
        MetricSuite(metrics=["flicker", "fvd"])


def test_summary_statistics_and_paired_confidence_interval():
    stats = describe_values([1.0, 2.0, None, 3.0])
    assert stats == {"mean": 2.0, "std": 1.0, "count": 3, "null_count": 1}
    difference = paired_difference([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])
    half_width = 4.302652729911275 / np.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt(3)
    assert difference["mean"] == 2.0 and difference["count"] == 3
    assert difference["ci_low"] == pytest.approx(2 - half_width) and difference["ci_high"] == pytest.approx(2 + half_width)
    summary = summarize_records([{"flicker": 0.9, "model": {"a": 1}}, {"flicker": 0.7, "model": {"a": 1}}])
    assert summary["clips"] == 2 and summary["model"] == {"a": 1}
    assert summary["metrics"]["flicker"]["mean"] == pytest.approx(0.8)


def test_summary_never_attributes_foreign_or_mixed_clips_to_one_model():
    samg = {"class_path": "samg_video.guidance.SAMG", "init_args": {"w_min": 4.0, "w_max": 9.6}}
    ours = {"flicker": 0.9, "model": {"family": "cogvideox"}, "guidance": samg}
    foreign = {"flicker": 0.8}  # a clip without this package's JSON
    summary = summarize_records([ours, ours, foreign])
    assert summary["model"] == "mixed" and summary["guidance"] == "mixed"
    assert summary["breakdown"]["model"] == [{"value": {"family": "cogvideox"}, "clips": 2}, {"value": None, "clips": 1}]
    assert summarize_records([foreign, foreign])["model"] == "unknown"
    other = {**ours, "model": {"family": "modelscope"}}
    assert summarize_records([ours, other])["model"] == "mixed"
    alone = summarize_records([ours, ours])
    assert alone["model"] == {"family": "cogvideox"} and alone["guidance"] == samg and "breakdown" not in alone


def test_a_metric_that_fails_on_one_clip_is_null_with_the_reason_and_the_others_stand(monkeypatch):
    suite = MetricSuite(metrics=["flicker", "warping_error"])

    def broken_flow(first, second):
        raise RuntimeError("flow diverged")

    monkeypatch.setattr(type(suite.flow), "consecutive", lambda self, prepared, a, b: broken_flow(None, None))
    record = suite(panning_clip(frames=3))
    assert record["warping_error"] is None
    assert record["null_reasons"]["warping_error"] == "failed: RuntimeError: flow diverged"
    assert record["flicker"] is not None and record["flow_backend"] == "dis_medium"


# ---- colour and exposure -------------------------------------------------------------------------
def test_colour_metrics_of_known_images_match_hand_computed_values():
    from samg_video.metrics import clipped_fraction, colorfulness, saturation

    grey = np.full((2, 4, 6, 3), 128, np.uint8)
    assert saturation(grey).value == 0.0 and colorfulness(grey).value == 0.0 and clipped_fraction(grey).value == 0.0
    # pure red: S = 1; rg = 255, yb = 127.5 everywhere (no spread): M = 0.3 * sqrt(255^2 + 127.5^2)
    red = np.zeros((1, 4, 6, 3), np.uint8)
    red[..., 0] = 255
    assert saturation(red).value == 1.0
    assert colorfulness(red).value == pytest.approx(0.3 * np.hypot(255, 127.5), abs=1e-9)
    assert clipped_fraction(red).value == 1.0  # every channel value is 0 or 255
    # half the pixels (200, 100, 50): S = 150 / 200, the other half black (S = 0 by convention)
    half = np.zeros((1, 2, 2, 3), np.uint8)
    half[0, 0] = (200, 100, 50)
    result = saturation(half)
    assert result.value == pytest.approx(0.375, abs=1e-12) and result.per_frame == [pytest.approx(0.375)]
    assert clipped_fraction(half).value == pytest.approx(6 / 12)  # the six channel values of the black pixels


def test_colour_metrics_equal_independent_implementations_per_frame():
    import colorsys

    from samg_video.metrics import colour_metrics

    frames = np.random.default_rng(5).integers(0, 256, (3, 12, 20, 3), dtype=np.uint8)
    frames[1, :4] = 255  # some blown-out rows
    results = colour_metrics(frames)

    def hasler(frame):  # the paper's formula, in float64 numpy
        r, g, b = (frame[..., i].astype(np.float64) for i in range(3))
        rg, yb = r - g, 0.5 * (r + g) - b
        return np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)

    # float64 against float64 summed in another order: relative 1e-9 (float32 anywhere would be ~1e-7 off)
    for t, frame in enumerate(frames):
        hsv = [colorsys.rgb_to_hsv(*(pixel / 255.0))[1] for pixel in frame.reshape(-1, 3)]
        assert results["saturation"].per_frame[t] == pytest.approx(np.mean(hsv), rel=1e-9)
        assert results["colorfulness"].per_frame[t] == pytest.approx(hasler(frame), rel=1e-9)
        assert results["clipped_fraction"].per_frame[t] == np.mean((frame == 0) | (frame == 255))
    assert results["saturation"].value == pytest.approx(np.mean(results["saturation"].per_frame))


def test_colour_metrics_of_a_full_size_frame_equal_float64_numpy():
    # OpenCV sums large planes in blocks: the integer moments must stay exact at CogVideoX's frame size
    from samg_video.metrics import colour_metrics

    frames = np.random.default_rng(9).integers(0, 256, (1, 480, 720, 3), dtype=np.uint8)
    frames[0, :100] = (255, 20, 0)
    results = colour_metrics(frames)
    pixels = frames[0].astype(np.float64)
    high, low = pixels.max(-1), pixels.min(-1)
    rg, yb = pixels[..., 0] - pixels[..., 1], 0.5 * (pixels[..., 0] + pixels[..., 1]) - pixels[..., 2]
    hasler = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    assert results["saturation"].value == pytest.approx(np.mean((high - low) / np.maximum(high, 1)), rel=1e-9)
    assert results["colorfulness"].value == pytest.approx(hasler, rel=1e-9)


def test_saturation_counts_pixels_the_same_way_below_and_above_opencvs_exact_range(monkeypatch):
    # OpenCV 5.1 divides 8-bit planes in float32 (5.0 in float64): saturation no longer divides per pixel but
    # counts (max, spread) pairs, by OpenCV below 2^24 pixels and by numpy above; both counts are exact
    from samg_video.metrics import colour

    frame = np.random.default_rng(3).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    frame[:10] = 0  # black pixels: S = 0 by convention
    by_opencv = colour.frame_colour(frame)
    monkeypatch.setattr(colour, "EXACT_FLOAT32_COUNTS", 0)
    assert colour.frame_colour(frame) == by_opencv
    pixels = frame.astype(np.float64)
    high, low = pixels.max(-1), pixels.min(-1)
    assert by_opencv[0] == pytest.approx(np.mean((high - low) / np.maximum(high, 1)), rel=1e-12)


def test_an_image_gets_colour_metrics_and_null_temporal_ones():
    image = np.random.default_rng(2).integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    record = MetricSuite(metrics=["flicker", "saturation", "clipped_fraction"], images_only=True)(image)
    assert record["flicker"] is None and "at least 2 frames" in record["null_reasons"]["flicker"]
    assert 0 < record["saturation"] < 1 and len(record["saturation_per_frame"]) == 1
    assert "saturation" not in record["null_reasons"]


# ---- prompt alignment: CLIP score ----------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from tiny_clip import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


def test_clip_score_equals_torchmetrics_clipscore_per_frame(tiny_clip):
    from torchmetrics.multimodal import CLIPScore

    from samg_video.metrics import CLIPScorer
    from samg_video.metrics.clip_score import projected

    scorer = CLIPScorer(str(tiny_clip))
    frames = np.random.default_rng(0).integers(0, 256, (6, 40, 64, 3), dtype=np.uint8)
    prompt = "a red cat walking in the forest"
    result = scorer(frames, prompt)

    class ProjectedFeatures(torch.nn.Module):
        """The same model, its features as the tensors torchmetrics 1.9 expects (transformers 5 wraps them)."""

        def __init__(self, model):
            super().__init__()
            self.model, self.config = model, model.config

        def get_image_features(self, *args, **kwargs):
            return projected(self.model.get_image_features(*args, **kwargs))

        def get_text_features(self, *args, **kwargs):
            return projected(self.model.get_text_features(*args, **kwargs))

    model, processor = ProjectedFeatures(scorer.model), scorer.processor
    reference = []
    for frame in frames:  # torchmetrics clamps the mean of its batch at 0: one frame at a time gives per-frame values
        metric = CLIPScore(model_name_or_path=lambda: (model, processor))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tiny tokenizer spells most words out: long captions
            metric.update(torch.from_numpy(frame).permute(2, 0, 1), prompt)
        reference.append(float(metric.compute()))
    assert result.per_frame == pytest.approx(reference, abs=1e-4)
    assert result.value == pytest.approx(np.mean(reference), abs=1e-4) and all(v >= 0 for v in result.per_frame)
    every_third = CLIPScorer(str(tiny_clip), every_k_frames=3)(frames, prompt)
    assert every_third.details["clip_frames"] == [0, 3] and every_third.per_frame == pytest.approx(reference[::3],
                                                                                                   abs=1e-4)


def test_clip_score_without_weights_or_prompt_is_null_with_the_reason(tiny_clip, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    frames = np.random.default_rng(1).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    offline = MetricSuite(metrics=["clip_score", "saturation"], clip_model="someorg/missing-clip")(frames, "a cat")
    assert offline["clip_score"] is None and "not in the local Hugging Face cache" in offline["null_reasons"]["clip_score"]
    assert offline["saturation"] is not None
    suite = MetricSuite(metrics=["clip_score"], clip_model=str(tiny_clip))
    assert suite(frames, None)["null_reasons"]["clip_score"] == "no prompt for this clip"
    image = suite(frames[:1], "a cat")  # an image is a one-frame clip
    assert image["clip_score"] >= 0 and len(image["clip_score_per_frame"]) == 1
    with pytest.raises(ConfigurationError, match="clip_model='/nowhere/clip' is neither a local directory"):
        MetricSuite(metrics=["clip_score"], clip_model="/nowhere/clip")
