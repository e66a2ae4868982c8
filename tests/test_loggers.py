"""Per-clip metrics, the run summary and sample clips reach the configured Lightning loggers."""

import csv
import glob
import importlib.util

import numpy as np
import pytest
from cli_runs import FAST, TINY_CONFIG, run_here

PROMPTS = "[a cat, a dog, a bird]"


def test_tensorboard_csv_and_wandb_get_clip_metrics_summary_and_samples(workdir, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "out"
    with_wandb = importlib.util.find_spec("wandb") is not None  # an optional install
    wandb_args = ["--trainer.logger+=WandbLogger", "--trainer.logger.offline", "true", "--trainer.logger.save_dir",
                  tmp_path / "wandb", "--trainer.logger.project", "samg"] if with_wandb else []
    result = run_here(["predict", "-c", TINY_CONFIG, "--output_dir", out, "--data.prompts", PROMPTS, *FAST,
                       "--trainer.logger+=TensorBoardLogger", "--trainer.logger.save_dir", tmp_path / "tb",
                       "--trainer.logger+=CSVLogger", "--trainer.logger.save_dir", tmp_path / "csv", *wandb_args],
                      cwd=workdir, WANDB_MODE="offline", WANDB_SILENT="true")
    assert result.returncode == 0, result.stderr[-3000:]

    (metrics_csv,) = glob.glob(str(tmp_path / "csv" / "**" / "metrics.csv"), recursive=True)
    rows = list(csv.DictReader(open(metrics_csv)))
    clip_rows = [row for row in rows if row["clip/flicker"]]
    (summary_row,) = [row for row in rows if row["summary/clips"]]
    assert len(clip_rows) == 3 and float(summary_row["summary/clips"]) == 3
    mean = np.mean([float(row["clip/flicker"]) for row in clip_rows])
    assert float(summary_row["summary/flicker_mean"]) == pytest.approx(mean)

    (events,) = glob.glob(str(tmp_path / "tb" / "**" / "events.out.tfevents.*"), recursive=True)
    accumulator = EventAccumulator(events, size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    assert len(accumulator.Scalars("clip/warping_error")) == 3
    assert accumulator.Scalars("summary/failures")[0].value == 0
    images = accumulator.Tags()["images"]
    assert len(images) == 3 and all(tag.startswith("samples/") for tag in images)
    picture = accumulator.Images(images[0])[0]
    assert (picture.width, picture.height) == (4 * 64, 32)  # four frames side by side

    if with_wandb:
        import wandb

        wandb.finish()  # a process of its own finishes the W&B run at exit; in this one, as in a notebook, by hand
        videos = glob.glob(str(tmp_path / "wandb" / "**" / "offline-run-*" / "files" / "media" / "videos" / "*.mp4"),
                           recursive=True)
        assert len(videos) == 3
        (history,) = glob.glob(str(tmp_path / "wandb" / "**" / "offline-run-*" / "run-*.wandb"), recursive=True)
        logged = open(history, "rb").read()
        assert b"clip/flicker" in logged and b"summary/clips" in logged


def test_a_sample_image_goes_to_tensorboard_as_one_frame(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger

    from samg_video.callbacks.loggers import frame_strip, log_sample

    logger = TensorBoardLogger(tmp_path)
    image = np.random.default_rng(0).integers(0, 255, (1, 32, 64, 3), dtype=np.uint8)
    assert np.array_equal(frame_strip(image), image[0])
    log_sample([logger], "an-image", image, tmp_path / "an-image.png", is_video=False)
    logger.experiment.flush()
    assert glob.glob(str(tmp_path / "**" / "events.out.tfevents.*"), recursive=True)
