"""Failure isolation: a clip that goes NaN/Inf or cannot be written fails alone; the run goes on and exits 1."""

import numpy as np
import torch

from samg_video.modules.nonfinite import NonFiniteWatch, nonfinite_reason


def test_watch_reports_the_first_nonfinite_step_per_sample():
    watch = NonFiniteWatch()
    latents = torch.zeros(3, 2, 4, 4, 4)
    watch.observe(0, latents)
    latents[1, 0, 0, 0, 0] = float("inf")
    watch.observe(1, latents)
    latents[2, 1, 1, 1, 1] = float("nan")
    watch.observe(2, latents)
    assert watch.first_steps() == [None, 1, 2]
    assert NonFiniteWatch().first_steps() == []


def test_reasons_name_latents_or_frames():
    frames = np.zeros((2, 4, 4, 3), dtype=np.float32)
    assert nonfinite_reason(frames, None, 50) is None
    assert nonfinite_reason(frames, 6, 50) == "latents became NaN/Inf at sampling step 7 of 50"
    frames[1, 2, 2, 0] = np.nan
    assert nonfinite_reason(frames, None, 50) == "decoded frames contain NaN/Inf"


# Through the CLI, with a clip that goes NaN and one that cannot be written, on two ranks: test_distributed.py
