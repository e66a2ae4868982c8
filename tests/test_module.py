"""The LightningModule, datamodule and callbacks together in an in-process Trainer.predict."""

import json

from lightning.pytorch import Trainer

from datamodules.prompts import PromptDataModule
from samg_video import SAMG
from samg_video.callbacks.clip_writer import ClipWriter
from samg_video.callbacks.progress import ClipProgressBar
from samg_video.modules.video_generator import VideoGenerator


def test_predict_counts_clips_and_writes_them(tmp_path):
    bar = ClipProgressBar()
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, callbacks=[bar, ClipWriter()],
                      default_root_dir=str(tmp_path), enable_model_summary=False)
    module = VideoGenerator(SAMG(4.0, 9.6), family="cogvideox", source="tiny", num_inference_steps=2)
    data = PromptDataModule(["a cat", "a dog", "a bird"], batch_size=2)
    predictions = trainer.predict(module, datamodule=data)
    assert [len(batch) for batch in predictions] == [2, 1]
    assert bar.predict_progress_bar.total == 3 and bar.predict_progress_bar.n == 3
    written = {json.loads(p.read_text())["prompt"] for p in tmp_path.glob("*.json")}
    assert written == {"a cat", "a dog", "a bird"}
    assert len(list(tmp_path.glob("*.mp4"))) == 3


def test_metrics_while_rendering_use_the_in_memory_frames_and_reach_every_file(tmp_path):
    import numpy as np

    from samg_video.callbacks.clip_metrics import ClipMetrics
    from samg_video.metrics import make_flow_backend, temporal_flickering, warping_error

    # background=True: scoring and writing run on worker threads, as when a GPU renders
    callbacks = [ClipMetrics(metrics=["flicker", "warping_error"], background=True), ClipWriter(background=True)]
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, callbacks=callbacks,
                      default_root_dir=str(tmp_path), enable_model_summary=False, enable_progress_bar=False)
    module = VideoGenerator(SAMG(4.0, 9.6), family="cogvideox", source="tiny", num_inference_steps=2)
    predictions = trainer.predict(module, datamodule=PromptDataModule(["a cat", "a dog", "a bird"], batch_size=2))
    lines = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()}
    assert len(lines) == 3
    for clip in (clip for batch in predictions for clip in batch):
        frames, clip_id = clip["frames"], clip["item"]["id"]
        expected_flicker = temporal_flickering(frames).value
        expected_warping = warping_error(frames, make_flow_backend("dis")).value
        metadata = json.loads((tmp_path / f"{clip_id}.json").read_text())
        assert metadata["metrics"]["flicker"] == lines[clip_id]["flicker"] == expected_flicker
        assert np.isclose(metadata["metrics"]["warping_error"], expected_warping, rtol=1e-12)
        assert lines[clip_id]["prompt"] == clip["item"]["prompt"] and lines[clip_id]["seed"] == clip["item"]["seed"]
        assert lines[clip_id]["frames"] == "in memory, before encoding"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["clips"] == 3 and summary["model"]["source"] == "tiny"
    assert summary["guidance"]["class_path"] == "samg_video.guidance.SAMG"
