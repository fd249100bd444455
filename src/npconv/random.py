"""Random number generation: one seeded default generator behind every random function."""

from __future__ import annotations

import numpy as np


class Generator:
    """A source of random numbers (``torch.Generator``'s API over ``numpy.random.Generator``)."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = 0 if seed is None else int(seed)
        self.numpy = np.random.default_rng(seed)

    def manual_seed(self, seed: int) -> Generator:
        """Reset to the stream defined by ``seed``; returns ``self`` as torch does."""
        self._seed = int(seed)
        self.numpy = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict:
        return self.numpy.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.numpy.bit_generator.state = state


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator: every random function and initialiser becomes reproducible."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Re-seed the default generator from the operating system's entropy and return the seed."""
    new_seed = int(np.random.SeedSequence().entropy % (2**63))
    default_generator.manual_seed(new_seed)
    return new_seed


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    default_generator.set_state(state)


def rng(generator: Generator | None = None) -> np.random.Generator:
    """The NumPy generator to draw from: ``generator``'s, else the default one."""
    return (generator or default_generator).numpy


def uniform_samples(generator: Generator | None, low: float, high: float, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Samples of U[low, high) in ``dtype``, drawn in float64 and rounded, with the rare value that
    rounding pushes outside [low, high] (or onto 1.0 for U[0, 1)) moved back to the nearest one inside."""
    values = rng(generator).uniform(low, high, shape)
    if dtype.kind != "f":
        return values.astype(dtype)
    rounded = values.astype(dtype)
    smallest = dtype.type(low) if dtype.type(low) >= low else np.nextafter(dtype.type(low), dtype.type(np.inf))
    largest = dtype.type(high) if dtype.type(high) <= high else np.nextafter(dtype.type(high), dtype.type(-np.inf))
    if (low, high) == (0.0, 1.0):
        largest = np.nextafter(dtype.type(1), dtype.type(0))  # rand() is [0, 1)
    return np.clip(rounded, smallest, largest)

