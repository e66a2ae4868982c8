import os
import signal
import sys
from pathlib import Path

import pytest
import torch

# shared helpers (CLI runs, fault injection) importable from every test module and from CLI subprocesses
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

# the suite is CPU-only and small; two threads match the CI machine and keep timings steady
torch.set_num_threads(min(2, os.cpu_count() or 1))


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
