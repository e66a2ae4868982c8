import os

import pytest
import torch

# the suite is CPU-only and small; two threads match the CI machine and keep timings steady
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(1234)
