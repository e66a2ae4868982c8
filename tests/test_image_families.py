"""SD 1.5, SDXL and SD 3.5 through the library API and the CLI: one-frame clips written as PNG."""

import json

import numpy as np
import pytest
from cli_runs import FAST, ROOT, clip_videos, lines_of, run_here
from PIL import Image

from samg_video import SAMG
from samg_video.families import get_family
from samg_video.files.resume import complete_metadata
from samg_video.modules.video_generator import VideoGenerator

ITEM = {"id": "a", "prompt": "a red panda walking in a forest", "negative_prompt": "", "seed": 5}
# tiny_samg.yaml (CogVideoX) has its own tests in test_cli.py; the Wan and HunyuanVideo 1.5 ones run on two
# ranks, with failures and a resume, in test_distributed.py
TINY_CONFIGS = {"modelscope": "tiny_modelscope_samg.yaml", "ltx": "tiny_ltx_samg.yaml",
                "sd15": "tiny_sd15_samg.yaml", "sdxl": "tiny_sdxl_samg.yaml", "sd35": "tiny_sd35_samg.yaml"}


@pytest.mark.parametrize("family", ["sd15", "sdxl", "sd35"])
def test_image_family_renders_one_frame_clips_through_the_api(family):
    generator = VideoGenerator(SAMG(5.0, 12.0), family=family, source="tiny", num_inference_steps=2)
    assert (generator.num_frames, generator.fps, generator.scheduler_name) == (1, None, get_family(family).schedulers[0])
    (clip,) = generator.render([ITEM])
    assert clip["media"] == "image" and clip["frames"].shape == (1, 32, 64, 3) and clip["frames"].dtype == np.uint8
    assert clip["frames"].std() > 0 and clip["guidance_statistics"]["active_steps"] >= 2
    again = VideoGenerator(SAMG(5.0, 12.0), family=family, source="tiny", num_inference_steps=2).render([ITEM])
    assert np.array_equal(clip["frames"], again[0]["frames"])  # the seed decides the image


def test_local_image_pipeline_directory_gives_the_tiny_model_images(tmp_path):
    get_family("sdxl").build_tiny(seed=0).save_pretrained(tmp_path, safe_serialization=True)
    tiny = VideoGenerator(SAMG(5.0, 12.0), family="sdxl", source="tiny", num_inference_steps=2)
    local = VideoGenerator(SAMG(5.0, 12.0), family="sdxl", source=str(tmp_path), num_inference_steps=2,
                           height=32, width=64)
    assert np.array_equal(tiny.render([ITEM])[0]["frames"], local.render([ITEM])[0]["frames"])


@pytest.mark.parametrize("family", TINY_CONFIGS)
def test_every_tiny_config_runs_offline_through_the_cli(family, workdir, tmp_path):
    out = tmp_path / "out"
    result = run_here(["predict", "-c", ROOT / "configs" / TINY_CONFIGS[family], "--output_dir", out,
                       "--data.prompts", "[a cat, a dog]", *FAST], cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    records = lines_of(out / "metrics.jsonl")
    assert len(records) == 2 and json.loads((out / "summary.json").read_text())["clips"] == 2
    for record in records:
        metadata = json.loads((out / f"{record['id']}.json").read_text())
        assert metadata["model"]["family"] == family and complete_metadata(out, record["id"]) == metadata
        low, high = metadata["guidance"]["init_args"]["w_min"], metadata["guidance"]["init_args"]["w_max"]
        assert metadata["scale_map"]["range"] == [low, high]
        if get_family(family).media == "image":
            image = np.asarray(Image.open(out / metadata["image"]["file"]))
            assert image.shape == (32, 64, 3) and metadata["image"]["format"] == "png"
            assert (metadata["num_frames"], metadata["fps"]) == (1, None)
            # image runs skip the temporal metrics: null, with the reason; colour and exposure are scored
            assert record["flicker"] is None and record["warping_error"] is None
            assert "needs at least 2 frames" in record["null_reasons"]["flicker"]
            assert 0 <= record["saturation"] <= 1 and record["colorfulness"] >= 0
            assert len(record["clipped_fraction_per_frame"]) == 1
            side = np.asarray(Image.open(out / metadata["scale_map"]["side_by_side"]))
            assert side.shape == (4 * 32 + 20, 8 * 64, 3)
        else:
            assert record["flicker"] is not None and (out / metadata["scale_map"]["scale_map"]).is_file()
    assert not clip_videos(out) if get_family(family).media == "image" else len(clip_videos(out)) == 2
    if family != "sd15":
        return
    # a re-run finds every clip complete, images included, and loads no model
    again = run_here(["predict", "-c", ROOT / "configs" / TINY_CONFIGS[family], "--output_dir", out,
                      "--data.prompts", "[a cat, a dog]", *FAST], cwd=workdir)
    assert again.returncode == 0 and "nothing to render, the model is not loaded" in again.stderr


def test_images_the_safety_checker_blacks_out_are_flagged_in_their_record():
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import (
        StableDiffusionSafetyChecker,
    )
    from transformers import CLIPConfig, CLIPImageProcessor

    tiny_clip = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 4}
    checker = StableDiffusionSafetyChecker(CLIPConfig(
        text_config=tiny_clip, vision_config={**tiny_clip, "image_size": 32, "patch_size": 4}, projection_dim=32,
    )).eval()
    generator = VideoGenerator(SAMG(5.0, 12.0), family="sd15", source="tiny", num_inference_steps=2)
    generator.load_pipeline()
    generator.pipeline.feature_extractor = CLIPImageProcessor(crop_size=32, size=32)
    generator.pipeline.safety_checker = checker
    assert generator.render([ITEM])[0]["safety_checker_flagged"] is False  # thresholds of 1: nothing flagged
    with torch.no_grad():
        checker.concept_embeds_weights.fill_(-2.0)  # every image is over the threshold now
    (clip,) = generator.render([ITEM])
    assert clip["safety_checker_flagged"] is True and clip["frames"].max() == 0  # black, as the stock pipeline
