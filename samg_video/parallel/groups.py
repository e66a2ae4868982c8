"""Ranks that render their clips together: CFG-parallel pairs, and context-parallel groups.

With ``model.cfg_parallel: 2`` ranks ``2p`` and ``2p + 1`` form group ``p``; with ``model.context_parallel:
N`` ranks ``Np`` to ``Np + N - 1`` do. The groups split the clips exactly as DDP ranks do (group ``p`` of
``P`` takes batches ``p, p + P, ...``). In a group, the first rank (the leader) reads the batches, claims
their clips and writes what is rendered; before each pipeline call it sends the batch it is about to
render to the others (the followers), which render the same clips with it (the denoiser's work split
between them: one branch each, see ``branches.BranchHook``, or a slice of the sequence each with context
parallelism) and keep nothing. When the leader's loop is over it sends ``None``, and the followers'
streams end. The batch goes from step to step, not from the data loader, because the loader fetches one
batch ahead.

Everything here goes over ``torch.distributed`` (gloo on CPUs, NCCL on GPUs): the objects are small
(a batch's items), the predictions go through collectives in the hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch.distributed as dist
from torch.utils.data import IterableDataset


def group_size_of(trainer: Any) -> int:
    """How many ranks render each clip together in the run (1 when the module has no such option, or when
    there is no trainer)."""
    module = getattr(trainer, "lightning_module", None) if trainer is not None else None
    return getattr(module, "cfg_parallel", 1) * getattr(module, "context_parallel", 1)


def clip_share_position(trainer: Any) -> tuple[int, int]:
    """``(index, count)`` of this rank's share of the clips: its rank among all ranks, or its group among
    the groups."""
    size = group_size_of(trainer)
    return trainer.global_rank // size, trainer.world_size // size


def follows_its_group(trainer: Any) -> bool:
    """Whether this rank renders its group leader's batches and writes nothing."""
    return trainer is not None and group_size_of(trainer) > 1 and trainer.global_rank % group_size_of(trainer) != 0


def make_rank_groups(size: int) -> Any:
    """This rank's group of ``size`` consecutive ranks as a process group. Every rank must call it, at the
    same point: each group is made by all ranks together."""
    rank, world = dist.get_rank(), dist.get_world_size()
    mine = None
    for first in range(0, world, size):
        group = dist.new_group(ranks=list(range(first, first + size)))
        if first <= rank < first + size:
            mine = group
    return mine


def send_batch(batch: list[dict[str, Any]] | None, group: Any) -> None:
    """The leader's batch (or None: no more) to its followers."""
    dist.broadcast_object_list([batch], src=dist.get_global_rank(group, 0), group=group)


def receive_batch(group: Any) -> list[dict[str, Any]] | None:
    received: list[Any] = [None]
    dist.broadcast_object_list(received, src=dist.get_global_rank(group, 0), group=group)
    return received[0]


class GroupState:
    """What the ranks of a group share in a run: their process group, and (on a follower) whether the
    leader has said that no batch will come."""

    def __init__(self, group: Any):
        self.group = group
        self.leader_done = False


class FollowerStream(IterableDataset):
    """The follower's batches: empty placeholders, one per step, until the leader is done. The step itself
    receives the leader's batch (``VideoGenerator.predict_step``): receiving here would block the
    loader's prefetch while the leader waits for this rank inside its pipeline call."""

    def __init__(self, state: GroupState):
        self.state = state
        self.clip_count = 0  # a follower renders the leader's clips; they count on the leader

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        while not self.state.leader_done:
            yield []
