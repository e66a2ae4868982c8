import os
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
