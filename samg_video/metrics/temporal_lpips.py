"""Temporal LPIPS: mean LPIPS (Zhang et al., CVPR 2018; the ``lpips`` package, v0.1) between consecutive
frames. Lower is more consistent.

The ``lpips`` package ships only its linear heads; the AlexNet / VGG / SqueezeNet trunk is torchvision's
ImageNet weights, which torchvision would download. Here they come from a file or the torch hub cache;
without them the metric is unavailable (reported as null with the reason), never a random trunk,
except the seeded one that tests ask for explicitly.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import torch

from samg_video.errors import ConfigurationError
from samg_video.metrics.frames import MetricResult, check_frames
from samg_video.metrics.weights import locate_weights, read_state_dict

log = logging.getLogger(__name__)

LPIPS_NETS = ("alex", "vgg", "squeeze")


def trunk_weights_url(net: str) -> str:
    from torchvision import models

    return {"alex": models.AlexNet_Weights.IMAGENET1K_V1, "vgg": models.VGG16_Weights.IMAGENET1K_V1,
            "squeeze": models.SqueezeNet1_1_Weights.IMAGENET1K_V1}[net].url


class TemporalLPIPS:
    """Mean LPIPS between consecutive frames.

    Args:
        net: the trunk: ``alex`` (default, as in most video papers), ``vgg`` or ``squeeze``.
        weights: torchvision's ImageNet weights for that trunk (``.pth`` or ``.safetensors``); unset,
            the torch hub cache.
        device: where the network runs.
        batch_size: frame pairs per forward pass.
        random_trunk_seed: for tests only: a seeded random trunk, so the code path runs offline. Values
            are then meaningless and are labelled so.

    ``available`` says whether the metric can be computed and ``reason`` why not.
    """

    def __init__(self, net: str = "alex", weights: str | None = None, device: str | torch.device = "cpu",
                 batch_size: int = 8, random_trunk_seed: int | None = None):
        if net not in LPIPS_NETS:
            raise ConfigurationError(f"lpips_net={net!r} is not valid; choose one of {', '.join(LPIPS_NETS)}")
        self.net_name = net
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.network: Any = None
        self.trunk: str | None = None
        if random_trunk_seed is not None:
            path, self.reason = None, None
        else:
            path, self.reason = locate_weights(weights, trunk_weights_url(net), "lpips_weights")
        if self.reason is not None:
            log.warning("temporal LPIPS is unavailable and will be reported as null: %s", self.reason)
            return
        self.network = self._build(path, random_trunk_seed)

    @property
    def available(self) -> bool:
        return self.network is not None

    def _build(self, trunk_path: Any, random_trunk_seed: int | None) -> Any:
        import lpips

        with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
            warnings.simplefilter("ignore")  # torchvision's deprecation notes for pretrained=False
            torch.manual_seed(random_trunk_seed or 0)
            network = lpips.LPIPS(net=self.net_name, pnet_rand=True, verbose=False)
        if trunk_path is None:
            log.warning("temporal LPIPS uses a random %s trunk (seed %d): for tests only, values are meaningless",
                        self.net_name, random_trunk_seed)
            self.trunk = f"random (seed {random_trunk_seed}; testing only)"
        else:
            _load_trunk(network.net, read_state_dict(trunk_path), trunk_path, self.net_name)
            self.trunk = str(trunk_path)
        return network.eval().requires_grad_(False).to(self.device)

    @torch.inference_mode()
    def __call__(self, frames: Any) -> MetricResult:
        """LPIPS of each consecutive pair of ``(T, H, W, 3)`` uint8 RGB frames, and their mean."""
        if not self.available:
            raise RuntimeError(f"temporal LPIPS is unavailable: {self.reason}")
        frames = check_frames(frames)
        per_pair: list[float] = []
        for start in range(0, len(frames) - 1, self.batch_size):
            stop = min(start + self.batch_size, len(frames) - 1)
            images = torch.from_numpy(frames[start:stop + 1]).to(self.device).permute(0, 3, 1, 2).float()
            images = images / 127.5 - 1.0  # LPIPS takes [-1, 1]
            distances = self.network(images[:-1], images[1:])
            per_pair.extend(distances.flatten().double().cpu().tolist())
        return MetricResult(value=float(np.mean(per_pair)), per_pair=per_pair,
                            details={"net": self.net_name, "trunk": self.trunk})


def _load_trunk(trunk: torch.nn.Module, state: dict[str, torch.Tensor], path: Any, net: str) -> None:
    """lpips names trunk layers ``slice{k}.{i}.*`` for torchvision's ``features.{i}.*``."""
    mapped = {}
    for name in trunk.state_dict():
        source = "features." + name.split(".", 1)[1]
        if source not in state:
            raise ConfigurationError(f"lpips_weights={str(path)!r} does not hold torchvision {net} weights "
                                     f"(no {source})")
        mapped[name] = state[source]
    trunk.load_state_dict(mapped)
