"""A tiny HunyuanVideo 1.5 pipeline with random weights, built offline (``HunyuanVideo15Family.build_tiny``)."""

from __future__ import annotations


def tiny_hunyuan_video_15(guider):
    from samg_video.families.hunyuan import HunyuanVideo15Family

    return HunyuanVideo15Family().build_tiny(seed=0, guider=guider)
