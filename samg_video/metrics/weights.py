"""Finding and reading pretrained weights for the metric networks (RAFT, the LPIPS trunk) offline.

torchvision would download them at run time; here they come from a file the user names or from the
torch hub cache (``$TORCH_HOME/hub/checkpoints``), never from the network.

Nothing a user points at is unpickled: a file given by path must be safetensors (``scripts/convert_weights.py``
converts torchvision's ``.pth`` where the file is trusted). torchvision's own ``.pth`` in the hub cache is
read only when its SHA-256 starts with the hash in its published file name (``alexnet-owt-7be5be79.pth``),
as torch.hub checks, and then with torch's tensors-only loader.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from samg_video.errors import ConfigurationError
from samg_video.files.resume import file_sha256

CONVERT = "python scripts/convert_weights.py IN.pth OUT.safetensors"
PUBLISHED_HASH = re.compile(r"-([0-9a-f]{8,64})\.pth$")


def hub_cache_file(url: str) -> Path:
    """Where torchvision keeps the weights downloaded from ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def locate_weights(path: str | None, url: str, field: str) -> tuple[Path | None, str | None]:
    """The weights file to use and, when there is none, why.

    An explicit ``path`` that does not exist or is not safetensors is a configuration error (named by
    ``field``); a missing cache file is not: the caller decides what to do without it.
    """
    name = url.rsplit("/", 1)[-1]
    if path:
        candidate = Path(path).expanduser()
        if not candidate.is_file():
            raise ConfigurationError(f"{field}={path!r}: no such file; give torchvision's {name} converted to "
                                     f".safetensors ({CONVERT})")
        if candidate.suffix != ".safetensors":
            raise ConfigurationError(
                f"{field}={path!r}: only .safetensors files are loaded from a path you give (unpickling a "
                f"{candidate.suffix or 'suffix-less'} file can run code). Convert it where you trust it: {CONVERT}; "
                f"or place torchvision's own {name} at {hub_cache_file(url)}, where it is checked against its "
                "published hash")
        return candidate, None
    cached = hub_cache_file(url)
    for candidate in (cached.with_suffix(".safetensors"), cached):
        if candidate.is_file():
            return candidate, None
    return None, (f"weights not found: set {field} to a .safetensors copy of {url} or place it at {cached} "
                  "(they cannot be downloaded offline)")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors only: safetensors, or a hub-cache ``.pth`` whose content matches its published hash."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    match = PUBLISHED_HASH.search(path.name)
    if match is None or not file_sha256(path).startswith(match.group(1)):
        raise ConfigurationError(f"{path} is not torchvision's published file (its SHA-256 does not start with "
                                 f"the hash in its name); refusing to unpickle it. Convert a trusted copy: {CONVERT}")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ConfigurationError(f"{path} does not hold a state dict of tensors")
    return state
