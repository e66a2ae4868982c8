"""The guidance interface: how a denoiser's unconditional and conditional predictions become one.

Pure torch: nothing here knows about diffusers, Lightning or files.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Any, Literal

import torch

from samg_video.errors import ConfigurationError

Layout = Literal["BFCHW", "BCFHW", "BCHW"]
LAYOUTS: tuple[str, ...] = ("BFCHW", "BCFHW", "BCHW")


@dataclass(frozen=True)
class Step:
    """Where a combine happens in the sampling loop.

    ``timestep`` is the scheduler's raw timestep, kept as given (often a device tensor) so that reading
    it costs a host-device synchronisation only for the methods that need its value.
    """

    index: int
    count: int
    timestep: torch.Tensor | float

    @property
    def fraction(self) -> float:
        """Position in the loop as a fraction of the steps, in [0, 1)."""
        return self.index / self.count


def channel_dim(layout: str) -> int:
    """The dimension holding latent channels, for a layout name."""
    check_choice("layout", layout, LAYOUTS)
    return 2 if layout == "BFCHW" else 1


def to_voxel_map(per_voxel: torch.Tensor, layout: str) -> torch.Tensor:
    """Bring a channel-reduced tensor of a layout to the canonical ``(B, F, H, W)`` voxel shape."""
    if layout == "BCHW":
        return per_voxel.unsqueeze(1)
    return per_voxel  # BFCHW minus dim 2 and BCFHW minus dim 1 are both (B, F, H, W)


def broadcast_voxel_map(voxel_map: torch.Tensor, layout: str) -> torch.Tensor:
    """Insert the channel dimension back into a ``(B, F, H, W)`` map so it broadcasts over the latent."""
    if layout == "BCHW":
        return voxel_map  # (B, 1, H, W) already broadcasts over (B, C, H, W)
    return voxel_map.unsqueeze(channel_dim(layout))


def check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ConfigurationError(f"{name}={value!r} is not valid; choose one of {valid}")


def check_positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ConfigurationError(f"{name}={value!r} is not valid; it must be a number > 0")


def class_path(cls: type) -> str:
    """The import path users write in configs: the package's export when it has one."""
    package = cls.__module__.rsplit(".", 1)[0]
    if getattr(sys.modules.get(package), cls.__name__, None) is cls:
        return f"{package}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


class Guidance:
    """Base class of every guidance method.

    Subclasses implement :meth:`combine` on float32 tensors. Calling the object upcasts both halves to
    float32 first, as the stock CogVideoX pipeline does before its own combine.
    """

    def __call__(self, uncond: torch.Tensor, cond: torch.Tensor, layout: str, step: Step) -> torch.Tensor:
        if uncond.shape != cond.shape:
            raise ValueError(f"uncond {tuple(uncond.shape)} and cond {tuple(cond.shape)} differ in shape")
        if step.index == 0:
            self.reset()  # a new sampling loop: no EMA or statistics carried over from the last clip
        return self.combine(uncond.float(), cond.float(), layout, step)

    def combine(self, uncond: torch.Tensor, cond: torch.Tensor, layout: str, step: Step) -> torch.Tensor:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget per-clip state (EMA, statistics) before a new sampling loop."""

    def statistics(self) -> list[dict[str, Any]]:
        """Per-sample statistics of the loop since the last reset; empty for methods that keep none."""
        return []

    # ---- per-voxel scale maps (only methods with a spatial scale have one) ----------------------
    has_scale_map = False

    def record_scale_maps(self, enabled: bool = True) -> None:
        """Keep the sum of the per-voxel scale over the active steps of each loop (methods with a map)."""
        raise ConfigurationError(f"{type(self).__name__} has no per-voxel scale map")

    def mean_scale_maps(self) -> torch.Tensor | None:
        """Per sample, the scale averaged over the active steps of the last loop, ``(B, F, H, W)`` in latent
        voxels on the CPU; None when not recording or for methods without a map."""
        return None

    def scale_range(self) -> tuple[float, float] | None:
        """The ``(lowest, highest)`` scale the map can take, for a fixed colour range."""
        return None

    def describe(self) -> dict[str, Any]:
        """The class and constructor arguments, for clip metadata."""
        arguments = {
            name: getattr(self, name)
            for name in inspect.signature(type(self).__init__).parameters
            if name != "self" and hasattr(self, name)
        }
        return {"class_path": class_path(type(self)), "init_args": arguments}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.describe()["init_args"].items())
        return f"{type(self).__name__}({args})"
