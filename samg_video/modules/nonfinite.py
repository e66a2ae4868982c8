"""Finding clips whose sampling went numerically wrong (NaN or Inf), so they fail alone instead of being
written as garbage or stopping the run."""

from __future__ import annotations

import numpy as np
import torch


class NonFiniteWatch:
    """Per sample of a batch, the first sampling step whose latents hold NaN or Inf.

    ``observe`` is called once per step with latents whose first dimension is the batch. The result
    stays on the device, so watching costs one reduction per step and no host-device synchronisation;
    ``first_steps`` reads it once, after sampling.
    """

    def __init__(self) -> None:
        self._first_step: torch.Tensor | None = None

    def observe(self, step: int, latents: torch.Tensor) -> None:
        bad = ~torch.isfinite(latents.flatten(1)).all(dim=1)
        if self._first_step is None:
            self._first_step = torch.full(bad.shape, -1, dtype=torch.long, device=bad.device)
        self._first_step = torch.where((self._first_step < 0) & bad, step, self._first_step)

    def first_steps(self) -> list[int | None]:
        """For each sample, the step index at which its latents first became non-finite, or None."""
        if self._first_step is None:
            return []
        return [None if step < 0 else step for step in self._first_step.tolist()]


def nonfinite_reason(frames: np.ndarray, first_step: int | None, steps: int) -> str | None:
    """Why a rendered clip cannot be kept, or None when its latents and frames are finite."""
    if first_step is not None:
        return f"latents became NaN/Inf at sampling step {first_step + 1} of {steps}"
    if not np.isfinite(frames).all():
        return "decoded frames contain NaN/Inf"
    return None
