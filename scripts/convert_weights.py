"""Convert a torchvision ``.pth`` state dict (RAFT, the LPIPS trunk) to ``.safetensors``.

samg-video loads only safetensors from paths you give, because unpickling a file can run code. Run this
once, where you trust the file (e.g. torchvision's own download), then point ``raft_weights`` or
``lpips_weights`` at the result:

    python scripts/convert_weights.py alexnet-owt-7be5be79.pth alexnet-owt-7be5be79.safetensors

The file is read with torch's tensors-only loader (``weights_only=True``) even so.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from samg_video.files.media import FILE_MODE, atomic_path


def convert(source: Path, target: Path) -> int:
    state = torch.load(str(source), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{source} does not hold a state dict of tensors")
    # atomically, and readable like any file the user writes (safetensors alone would leave it owner-only)
    with atomic_path(target) as temporary:
        save_file({key: value.contiguous() for key, value in state.items()}, str(temporary))
        os.chmod(temporary, FILE_MODE)
    return len(state)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the .pth file")
    parser.add_argument("target", type=Path, help="the .safetensors file to write")
    args = parser.parse_args(argv)
    if args.target.suffix != ".safetensors":
        sys.exit(f"convert_weights: error: {args.target} must end in .safetensors")
    try:
        count = convert(args.source, args.target)
    except (OSError, ValueError, RuntimeError) as error:  # missing file, not tensors, refused by weights_only
        sys.exit(f"convert_weights: error: {error}")
    print(f"convert_weights: wrote {count} tensors ({args.target.stat().st_size / 1e6:.1f} MB) to {args.target}; "
          "give this path as lpips_weights or raft_weights")


if __name__ == "__main__":
    try:
        main()
    except SystemExit as refusal:  # its one line ("convert_weights: error: ..."), with bad input's status
        if isinstance(refusal.code, str):
            print(refusal.code, file=sys.stderr)
            sys.exit(2)
        raise
