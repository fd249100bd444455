"""Freed memory kept for reuse: a repeated training step writes into pages the process already has."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from npconv import memory

# A training step whose saved activations and gradients (about 150 MiB in 4 MiB arrays) are all freed at
# its end, beyond what glibc would keep at the top of its heap on its own (64 MiB at most).
TRAINING_STEP = """
import resource, npconv, npconv.nn as nn
npconv.manual_seed(0)
layers = []
for _ in range(12):
    layers += [nn.BatchNorm2d(32), nn.ReLU(), nn.Conv2d(32, 32, 1)]
model = nn.Sequential(*layers)
x = npconv.randn(8, 32, 64, 64)
def step():
    model.zero_grad()
    model(x).square().mean().backward()
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
step(); step()
print(min(faults(), faults()))
"""

glibc_only = pytest.mark.skipif(
    not (hasattr(os, "confstr") and str(os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")),
    reason="the allocator's settings are glibc's; other C libraries are left as they are",
)


def page_faults_of_a_repeated_step(environment: dict[str, str]) -> int:
    clean = {key: value for key, value in os.environ.items() if not memory.allocator_chosen_by_environment({key: value})}
    result = subprocess.run(
        [sys.executable, "-c", TRAINING_STEP], env={**clean, **environment}, capture_output=True, text=True, check=True
    )
    return int(result.stdout)


@glibc_only
def test_a_repeated_training_step_takes_almost_no_page_faults() -> None:
    assert page_faults_of_a_repeated_step({}) < 200


@glibc_only
def test_a_trim_threshold_from_the_environment_is_kept_and_the_step_faults_again() -> None:
    """The same step with the program's own MALLOC_TRIM_THRESHOLD_ (glibc's start value, 128 KiB): npconv
    leaves it (and the mmap threshold of 128 KiB that comes with it) alone, and the freed memory is returned
    and faulted in again: thousands of faults."""
    assert page_faults_of_a_repeated_step({"MALLOC_TRIM_THRESHOLD_": "131072"}) > 5000


@pytest.mark.parametrize(
    ("environment", "chosen"),
    [
        ({}, False),
        ({"PATH": "/usr/bin", "GLIBC_TUNABLES": "glibc.rtld.nns=2"}, False),
        ({"MALLOC_TRIM_THRESHOLD_": "0"}, True),
        ({"MALLOC_MMAP_THRESHOLD_": "65536"}, True),
        ({"MALLOC_TOP_PAD_": "0"}, True),
        ({"MALLOC_MMAP_MAX_": "0"}, True),
        ({"GLIBC_TUNABLES": "glibc.rtld.nns=2:glibc.malloc.trim_threshold=0"}, True),
    ],
)
def test_which_environments_choose_the_allocators_settings(environment: dict[str, str], chosen: bool) -> None:
    assert memory.allocator_chosen_by_environment(environment) is chosen
