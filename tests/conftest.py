import os
import signal
import sys
from pathlib import Path

import pytest
import torch

# shared helpers (CLI runs, fault injection) importable from every test module and from CLI subprocesses
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

# the suite is CPU-only; each pytest-xdist worker gets its share of the cores (more threads than cores make
# torch's thread pools wait on each other: the toy-model tests ran 7x slower on two workers with two threads each)
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
THREADS = max(1, min(2, (os.cpu_count() or 1) // WORKERS))
torch.set_num_threads(THREADS)


def pytest_collection_modifyitems(config, items):
    """The tests marked ``slow`` (tens of seconds each: multi-rank runs, the toy model's statistics) first, so
    that the workers share them from the start instead of one worker finishing a long one alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: the rest keep their order


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def workdir(tmp_path):
    """An empty working directory for CLI runs: nothing may be written into it."""
    path = tmp_path / "cwd"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def default_ctrl_c():
    """Ctrl-C back to Python's handler after each test. Lightning ignores SIGINT for good once it has
    handled a KeyboardInterrupt in this process, and a child started while SIGINT is ignored inherits
    that and cannot be stopped with Ctrl-C: the CLI tests that send it would fail by order, not by code."""
    yield
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)
