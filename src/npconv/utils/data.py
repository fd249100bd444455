"""Datasets and batching: ``Dataset``, ``TensorDataset``, ``DataLoader`` and ``default_collate``.

A ``DataLoader`` draws indices (in order, or shuffled by a seeded ``npconv.Generator``), groups them into
batches and collates each batch into stacked Tensors. Batches of a ``TensorDataset`` are gathered with
one fancy index per tensor instead of sample by sample.
"""

from __future__ import annotations

import collections.abc
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ..random import Generator, rng
from ..tensor import Tensor

__all__ = ["DataLoader", "Dataset", "TensorDataset", "default_collate"]


class Dataset:
    """An indexable collection of samples: subclasses implement ``__getitem__`` (and usually ``__len__``)."""

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")


class TensorDataset(Dataset):
    """Samples are the rows of tensors (or NumPy arrays) that share their first dimension.

    Args:
        *tensors: Tensors or arrays with the same size of dimension 0; arrays are wrapped without copying.

    Example:
        >>> dataset = TensorDataset(npconv.randn(100, 1, 8, 8), npconv.randint(0, 10, (100,)))
        >>> image, label = dataset[0]
    """

    def __init__(self, *tensors: Tensor | np.ndarray) -> None:
        wrapped = []
        for tensor in tensors:
            if isinstance(tensor, np.ndarray):
                tensor = Tensor._wrap(tensor)
            if not isinstance(tensor, Tensor):
                raise TypeError(f"TensorDataset expects Tensors or NumPy arrays, but got {type(tensor).__name__}")
            wrapped.append(tensor)
        if any(tensor.shape[:1] != wrapped[0].shape[:1] or tensor.ndim == 0 for tensor in wrapped):
            raise AssertionError("Size mismatch between tensors")
        self.tensors: tuple[Tensor, ...] = tuple(wrapped)

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(tensor[index] for tensor in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0] if self.tensors else 0

    def _batch(self, indices: np.ndarray) -> list[Tensor]:
        """The samples at ``indices`` stacked, one gather per tensor (what default_collate would build)."""
        return [Tensor._wrap(tensor._array[indices]) for tensor in self.tensors]


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch, as torch's ``default_collate``.

    Tensors and arrays are stacked along a new first dimension; Python floats become a float64 tensor,
    ints an int64 tensor; tuples and lists are collated field by field (into a list), dicts key by key;
    strings are returned as a list.
    """
    element = batch[0]
    if isinstance(element, Tensor):
        return Tensor._wrap(np.stack([sample._array for sample in batch]))
    if isinstance(element, (np.ndarray, np.generic)) and not isinstance(element, (np.str_, np.bytes_)):
        return Tensor._wrap(np.stack([np.asarray(sample) for sample in batch]))
    if isinstance(element, bool):
        return Tensor._wrap(np.asarray(batch, dtype=np.bool_))
    if isinstance(element, float):
        return Tensor._wrap(np.asarray(batch, dtype=np.float64))
    if isinstance(element, int):
        return Tensor._wrap(np.asarray(batch, dtype=np.int64))
    if isinstance(element, (str, bytes)):
        return list(batch)
    if isinstance(element, collections.abc.Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in element}
    if isinstance(element, collections.abc.Sequence):
        if any(len(sample) != len(element) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(
        "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        f"found {type(element).__name__}"
    )


class DataLoader:
    """Iterate over a dataset in (optionally shuffled) batches of stacked Tensors.

    Args:
        dataset: a ``Dataset`` (anything with ``__getitem__`` and ``__len__``).
        batch_size: samples per batch, or None to yield single samples; default 1.
        shuffle: reshuffle the indices at every iteration; default False.
        sampler: an iterable of indices to draw instead (excludes ``shuffle``); default None.
        batch_sampler: an iterable of index lists (excludes batch_size, shuffle, sampler, drop_last).
        num_workers: accepted for torch compatibility; loading always happens in this process.
        collate_fn: merges a list of samples into a batch; default ``default_collate``.
        pin_memory, timeout, worker_init_fn, multiprocessing_context: accepted and ignored (CPU only).
        drop_last: drop the last, incomplete batch; default False.
        generator: the ``npconv.Generator`` that shuffles (default: npconv's default generator, so
            ``npconv.manual_seed`` makes shuffling reproducible).

    ``len(loader)`` is the number of batches: ⌈N / batch_size⌉, or ⌊N / batch_size⌋ with drop_last.

    Example:
        >>> loader = DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True,
        ...                     generator=npconv.Generator().manual_seed(0))
        >>> for x, y in loader:
        ...     ...
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Iterable[int] | None = None,
        batch_sampler: Iterable[Sequence[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Generator | None = None,
    ) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ValueError(
                "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
            )
        if batch_sampler is None and batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
            )
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else batch_size
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.generator = generator

    def _indices(self) -> np.ndarray | Iterable[int]:
        if self.sampler is not None:
            return self.sampler
        if self.shuffle:
            return rng(self.generator).permutation(len(self.dataset))
        return np.arange(len(self.dataset))

    def _index_batches(self) -> Iterator[Sequence[int]]:
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        indices = np.fromiter(self._indices(), dtype=np.int64)
        size = self.batch_size
        stop = len(indices) - len(indices) % size if self.drop_last else len(indices)
        for start in range(0, stop, size):
            yield indices[start : start + size]

    def __iter__(self) -> Iterator[Any]:
        if self.batch_size is None and self.batch_sampler is None:
            convert = self.collate_fn or _convert_sample
            for index in self._indices():
                yield convert(self.dataset[int(index)])
            return
        gather = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        collate = self.collate_fn or default_collate
        for batch_indices in self._index_batches():
            if gather:
                yield self.dataset._batch(np.asarray(batch_indices, dtype=np.int64))
            else:
                yield collate([self.dataset[int(index)] for index in batch_indices])

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)  # type: ignore[arg-type]
        count = len(self.sampler) if self.sampler is not None else len(self.dataset)  # type: ignore[arg-type]
        if self.batch_size is None:
            return count
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)


def _convert_sample(sample: Any) -> Any:
    """Without batching, arrays become Tensors and containers are converted element by element."""
    if isinstance(sample, np.ndarray):
        return Tensor._wrap(sample)
    if isinstance(sample, collections.abc.Mapping):
        return {key: _convert_sample(value) for key, value in sample.items()}
    if isinstance(sample, tuple):
        return tuple(_convert_sample(value) for value in sample)
    if isinstance(sample, list):
        return [_convert_sample(value) for value in sample]
    return sample
