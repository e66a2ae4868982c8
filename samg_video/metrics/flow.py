"""Optical-flow backends behind one interface: OpenCV DIS (default), OpenCV Farneback, torchvision RAFT.

A backend maps frame pairs to flows ``fw`` with ``first(x) ~ second(x + fw(x))``, in pixels, channel 0
horizontal. Warping-error values depend on the backend, so its ``name`` is recorded with every value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
import torch

from samg_video.errors import ConfigurationError
from samg_video.metrics.weights import locate_weights, read_state_dict

DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
DIS_MIN_SIDE = 16
RAFT_MIN_SIDE = 128
FLOW_BACKENDS = ("dis", "farneback", "raft_large", "raft_small")
T = TypeVar("T")


class FlowBackend:
    """Flows between pairs of frames. ``__call__(first, second)`` takes ``(N, H, W, 3)`` uint8 RGB and
    returns ``(N, H, W, 2)`` float32."""

    name: str

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def prepare(self, frames: np.ndarray) -> np.ndarray:
        """The frames in the form the backend computes on, converted once per clip."""
        return frames

    def consecutive(self, prepared: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Forward and backward flows of the pairs ``(t, t+1)`` for ``start <= t < stop``."""
        return (self(prepared[start:stop], prepared[start + 1:stop + 1]),
                self(prepared[start + 1:stop + 1], prepared[start:stop]))

    def map_chunks(self, prepared: np.ndarray, pairs_per_chunk: int, task: Callable[..., T]) -> list[T]:
        """``task(start, stop, forward, backward)`` for every chunk of consecutive pairs, results in order."""
        return [task(start, stop, *self.consecutive(prepared, start, stop))
                for start, stop in chunk_ranges(len(prepared), pairs_per_chunk)]


def chunk_ranges(frames: int, pairs_per_chunk: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each chunk of the pairs ``(t, t+1)`` of ``frames`` frames."""
    return [(start, min(start + pairs_per_chunk, frames - 1)) for start in range(0, frames - 1, pairs_per_chunk)]


def _one_torch_thread() -> None:
    # per thread (OpenMP): the caller's torch keeps its threads; workers do not oversubscribe the cores
    torch.set_num_threads(1)


class _OpenCVFlow(FlowBackend):
    """Flows of different pairs are independent and OpenCV releases the GIL: chunks, with the task that
    consumes their flows, run on ``workers`` threads, each with its own algorithm object (it keeps
    per-call buffers) and one torch thread, so that a chunk's flows are freed as soon as it is scored."""

    workers = 2

    def __init__(self):
        self._local = threading.local()

    def map_chunks(self, prepared: np.ndarray, pairs_per_chunk: int, task: Callable[..., T]) -> list[T]:
        ranges = chunk_ranges(len(prepared), pairs_per_chunk)
        if self.workers < 2 or len(ranges) < 2:
            return super().map_chunks(prepared, pairs_per_chunk, task)

        def flows_then_task(start: int, stop: int) -> T:
            return task(start, stop, *self.consecutive(prepared, start, stop))

        with ThreadPoolExecutor(self.workers, thread_name_prefix="flow", initializer=_one_torch_thread) as pool:
            return list(pool.map(flows_then_task, *zip(*ranges)))

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        if first.ndim == 4:  # RGB frames; prepared frames are already grayscale
            first, second = self.prepare(first), self.prepare(second)
        return np.stack([self.pair(a, b) for a, b in zip(first, second)]).astype(np.float32, copy=False)

    def prepare(self, frames: np.ndarray) -> np.ndarray:
        return np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames])

    def pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class DISFlow(_OpenCVFlow):
    """OpenCV's Dense Inverse Search (Kroeger et al., ECCV 2016) on 8-bit grayscale; needs no weights.

    Args:
        preset: ``ultrafast``, ``fast`` or ``medium`` (slower, more accurate).
    """

    def __init__(self, preset: str = "medium"):
        if preset not in DIS_PRESETS:
            raise ConfigurationError(f"dis_preset={preset!r} is not valid; choose one of {', '.join(DIS_PRESETS)}")
        super().__init__()
        self.name = f"dis_{preset}"
        self.preset = preset

    def pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        dis = getattr(self._local, "dis", None)
        if dis is None:
            dis = self._local.dis = cv2.DISOpticalFlow_create(DIS_PRESETS[self.preset])
        height, width = first.shape
        if height >= DIS_MIN_SIDE and width >= DIS_MIN_SIDE:
            return dis.calc(first, second, None)
        # DIS refuses images smaller than its patch pyramid: pad by replicating the border, crop the flow
        pad = dict(top=0, left=0, bottom=max(0, DIS_MIN_SIDE - height), right=max(0, DIS_MIN_SIDE - width),
                   borderType=cv2.BORDER_REPLICATE)
        flow = dis.calc(cv2.copyMakeBorder(first, **pad), cv2.copyMakeBorder(second, **pad), None)
        return np.ascontiguousarray(flow[:height, :width])


class FarnebackFlow(_OpenCVFlow):
    """OpenCV Farneback (SCIA 2003) with the common parameters (0.5, 3, 15, 3, 5, 1.2); needs no weights."""

    name = "farneback"

    def pair(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(first, second, None, 0.5, 3, 15, 3, 5, 1.2, 0)


class RAFTFlow(FlowBackend):
    """torchvision RAFT (Teed and Deng, ECCV 2020) with local weights, on ``device``.

    Args:
        size: ``large`` (C_T_SKHT_V2 weights) or ``small`` (C_T_V2).
        weights: a torchvision RAFT weights file; unset, the torch hub cache.
        device: where the network runs (a GPU when there is one).
        batch_size: pairs per forward pass.
    """

    def __init__(self, size: str = "large", weights: str | None = None, device: str | torch.device = "cpu",
                 batch_size: int = 8, num_flow_updates: int = 12):
        from torchvision.models import optical_flow

        if size not in ("large", "small"):
            raise ConfigurationError(f"RAFT size {size!r} is not valid; choose large or small")
        path = locate_raft_weights(size, weights)
        build = optical_flow.raft_large if size == "large" else optical_flow.raft_small
        self.name = f"raft_{size}"
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.num_flow_updates = num_flow_updates
        self.network = build(weights=None, progress=False)
        self.network.load_state_dict(read_state_dict(path))
        self.network.eval().requires_grad_(False).to(self.device)

    @torch.inference_mode()
    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        height, width = first.shape[1:3]
        # RAFT needs sides divisible by 8 and at least 128: pad by replicating the border, crop the flow back
        pad = (0, max(RAFT_MIN_SIDE - width, -width % 8), 0, max(RAFT_MIN_SIDE - height, -height % 8))
        flows = []
        for start in range(0, len(first), self.batch_size):
            a, b = (torch.nn.functional.pad(self._prepare(x[start:start + self.batch_size]), pad, mode="replicate")
                    for x in (first, second))
            flow = self.network(a, b, num_flow_updates=self.num_flow_updates)[-1]
            flows.append(flow[:, :, :height, :width].permute(0, 2, 3, 1).float().cpu().numpy())
        return np.concatenate(flows)

    def _prepare(self, frames: np.ndarray) -> torch.Tensor:
        # RAFT's own transform: [0, 255] -> [-1, 1]
        images = torch.from_numpy(frames).to(self.device).permute(0, 3, 1, 2).float()
        return images / 127.5 - 1.0


def locate_raft_weights(size: str, weights: str | None) -> Path:
    """The RAFT weights file to load (``weights``, else the torch hub cache), or a configuration error."""
    from torchvision.models import optical_flow

    reference = optical_flow.Raft_Large_Weights.C_T_SKHT_V2 if size == "large" else optical_flow.Raft_Small_Weights.C_T_V2
    path, reason = locate_weights(weights, reference.url, "raft_weights")
    if path is None:
        raise ConfigurationError(f"flow_backend=raft_{size}: {reason}; or use flow_backend=dis")
    return path


def make_flow_backend(name: str = "dis", dis_preset: str = "medium", raft_weights: str | None = None,
                      device: str | torch.device = "cpu") -> FlowBackend:
    """The backend called ``name``: ``dis``, ``farneback``, ``raft_large`` or ``raft_small``."""
    if name == "dis":
        return DISFlow(dis_preset)
    if name == "farneback":
        return FarnebackFlow()
    if name in ("raft_large", "raft_small"):
        return RAFTFlow(name.split("_")[1], raft_weights, device)
    raise ConfigurationError(f"flow_backend={name!r} is not valid; choose one of {', '.join(FLOW_BACKENDS)}")
