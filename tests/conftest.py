"""Shared test set-up. torch is the oracle: it is imported unconditionally, so a missing torch fails."""

import numpy as np
import pytest
import torch  # the oracle must be installed; a missing torch is an error, never a skip
from hypothesis import HealthCheck, settings

# The oracle runs tiny reference computations; one thread avoids oversubscribing the machine's cores.
torch.set_num_threads(1)

settings.register_profile(
    "npconv", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("npconv")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
