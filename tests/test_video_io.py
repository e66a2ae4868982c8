"""Clip files: exact lossless round trip, no resizing, atomic writes."""

import numpy as np
import pytest

from samg_video.files.media import atomic_path, read_video, write_mp4


def frames(count=5, height=32, width=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def test_lossless_round_trip_is_exact(tmp_path):
    clip = frames()
    write_mp4(tmp_path / "c.mp4", clip, fps=8, lossless=True)
    assert np.array_equal(read_video(tmp_path / "c.mp4"), clip)


@pytest.mark.parametrize("height, width", [(32, 64), (30, 50), (33, 47)])
def test_size_is_kept(tmp_path, height, width):
    write_mp4(tmp_path / "c.mp4", frames(height=height, width=width), fps=8)
    assert read_video(tmp_path / "c.mp4").shape == (5, height, width, 3)


def test_decord_reads_written_clips(tmp_path):
    decord = pytest.importorskip("decord")
    write_mp4(tmp_path / "c.mp4", frames(count=9), fps=8)
    reader = decord.VideoReader(str(tmp_path / "c.mp4"))
    assert len(reader) == 9 and reader[0].asnumpy().shape == (32, 64, 3)


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        write_mp4(tmp_path / "c.mp4", frames().astype(np.float32), fps=8)
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "d.json") as temporary:
            temporary.write_text("partial")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_finished_files_are_world_readable(tmp_path):
    write_mp4(tmp_path / "c.mp4", frames(), fps=8)
    assert (tmp_path / "c.mp4").stat().st_mode & 0o044


def smooth_moving_clip(count=17, height=120, width=160):
    """A textured pattern moving across the frame plus sensor-like noise: where x264 has choices to make."""
    t, y, x = np.meshgrid(np.arange(count), np.arange(height), np.arange(width), indexing="ij")
    clip = np.stack([128 + 100 * np.sin((x + 3 * t) / 9.0), 128 + 100 * np.cos((y - 2 * t) / 7.0),
                     (x * y / 75 + 5 * t) % 256], -1)
    return np.clip(clip + np.random.default_rng(0).normal(0, 6, clip.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("lossless", [False, True])
def test_the_same_frames_give_the_same_file_every_time(tmp_path, lossless):
    clip = smooth_moving_clip()
    written = []
    for attempt in range(6):  # without cpu-independent x264, 5 of 6 such encodes differed
        path = tmp_path / f"c{attempt}.mp4"
        write_mp4(path, clip, fps=8, lossless=lossless)
        written.append(path.read_bytes())
    assert all(data == written[0] for data in written)
