"""Splitting a run's items over the ranks of a distributed run, each item exactly once."""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

from torch.utils.data import DistributedSampler


class RankShare(DistributedSampler):
    """Rank ``r`` of ``w`` gets items ``r, r + w, r + 2w, ...``: each item exactly once over the ranks, no
    padding, and a rank may get none.

    Lightning's own predict sampler splits the same way but refuses a run with fewer items than ranks,
    which is common when resuming (three clips left on eight GPUs). Being a ``DistributedSampler``, this
    one is used as it is rather than wrapped.
    """

    def __init__(self, dataset: Sized, num_replicas: int, rank: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.indices = list(range(rank, len(dataset), num_replicas))
        self.num_samples = len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def rank_share(dataset: Sized, trainer: Any) -> RankShare | None:
    """The sampler for this rank when ``trainer`` runs several ranks, else None (plain order). With
    CFG- or context-parallel the groups of ranks share the items as ranks do
    (``samg_video.parallel.groups``)."""
    if trainer is None or trainer.world_size <= 1:
        return None
    from samg_video.parallel.groups import clip_share_position

    index, count = clip_share_position(trainer)
    return RankShare(dataset, count, index) if count > 1 else None
