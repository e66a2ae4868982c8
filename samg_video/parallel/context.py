"""Context parallelism where diffusers has it: each denoiser call's token sequence split over N ranks
(Ulysses attention: every rank computes its slice, the attention all-to-alls the heads), through the
transformer's own ``enable_parallelism(config=ContextParallelConfig(...))``.

It runs only on CUDA GPUs (diffusers' attention backends for it are CUDA's) and only for the families
whose diffusers transformer has a context-parallel plan (``_cp_plan``): LTX-Video and Wan here. A run with
more ranks than N renders clips in groups of N, the groups splitting the clips as DDP ranks do
(``groups``); the device mesh is ``(groups, 1, N)`` so that each group's ranks share one ``(ring,
ulysses)`` sub-mesh.
"""

from __future__ import annotations

from typing import Any

import torch

from samg_video.errors import ConfigurationError

# the families whose diffusers transformer carries a context-parallel plan (tested against diffusers)
CONTEXT_PARALLEL_FAMILIES = ("ltx", "wan")


def check_context_parallel_family(family: Any) -> None:
    if family.name not in CONTEXT_PARALLEL_FAMILIES:
        raise ConfigurationError(f"model.context_parallel needs a transformer that diffusers can split by sequence; "
                                 f"{family.name}'s cannot. It works for: {', '.join(CONTEXT_PARALLEL_FAMILIES)} "
                                 "(on CUDA GPUs)")


def check_context_parallel_device(device: torch.device) -> None:
    if device.type != "cuda":
        raise ConfigurationError(f"model.context_parallel needs CUDA GPUs (trainer.accelerator: gpu, one rank per "
                                 f"GPU); this run's ranks are on {device.type}")


def enable_context_parallel(pipeline: Any, degree: int) -> None:
    """Split the pipeline's transformer(s) over groups of ``degree`` consecutive ranks."""
    from diffusers import ContextParallelConfig
    from torch.distributed.device_mesh import init_device_mesh

    world = torch.distributed.get_world_size()
    mesh = init_device_mesh("cuda", (world // degree, 1, degree), mesh_dim_names=("clips", "ring", "ulysses"))
    config = ContextParallelConfig(ulysses_degree=degree, mesh=mesh["ring", "ulysses"])
    for name in ("transformer", "transformer_2"):
        transformer = getattr(pipeline, name, None)
        if transformer is not None:
            transformer.enable_parallelism(config=config)
