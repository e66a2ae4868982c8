"""Finding and reading pretrained weights for the metric networks (RAFT, the LPIPS trunk) offline.

torchvision would download them at run time; here they come from a file the user names or from the
torch hub cache (``$TORCH_HOME/hub/checkpoints``), never from the network.
"""

from __future__ import annotations

from pathlib import Path

import torch

from samg_video.errors import ConfigurationError


def hub_cache_file(url: str) -> Path:
    """Where torchvision keeps the weights downloaded from ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def locate_weights(path: str | None, url: str, field: str) -> tuple[Path | None, str | None]:
    """The weights file to use and, when there is none, why.

    An explicit ``path`` that does not exist is a configuration error (named by ``field``); a missing
    cache file is not: the caller decides what to do without it.
    """
    if path:
        candidate = Path(path).expanduser()
        if not candidate.is_file():
            raise ConfigurationError(f"{field}={path!r}: no such file; give a torchvision weights file "
                                     f"({url.rsplit('/', 1)[-1]}, .pth or .safetensors)")
        return candidate, None
    cached = hub_cache_file(url)
    if cached.is_file():
        return cached, None
    return None, (f"weights not found: set {field} to a local copy of {url} or place it at {cached} "
                  "(they cannot be downloaded offline)")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors only: safetensors, or torch's restricted unpickler, which refuses arbitrary objects."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ConfigurationError(f"{path} does not hold a state dict of tensors")
    return state
