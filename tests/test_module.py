"""The LightningModule, datamodule and callbacks together in an in-process Trainer.predict."""

import json

from lightning.pytorch import Trainer

from datamodules.prompts import PromptDataModule
from samg_video import SAMG
from samg_video.module import VideoGenerator
from samg_video.progress import ClipProgressBar
from samg_video.writer import ClipWriter


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
