"""Keeps the graceful SIGTERM stop of :mod:`samg_video.signals` in place while Lightning predicts."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import Callback

from samg_video.signals import stop_on_sigterm


class StopOnSignal(Callback):
    """Puts the graceful SIGTERM handler back in place of Lightning's, which ``predict`` installs after setup
    (and takes away again at its end)."""

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        stop_on_sigterm()
