"""TensorDataset, DataLoader and default_collate against torch.utils.data: batch contents and shapes,
drop_last, len(), collation of mixed samples, errors, and reproducible seeded shuffling."""

import numpy as np
import pytest
import torch
import torch.utils.data as torch_data

import npconv
from npconv.utils.data import DataLoader, Dataset, TensorDataset, default_collate


def as_numpy(value):
    if isinstance(value, (list, tuple)):
        return [as_numpy(v) for v in value]
    if isinstance(value, dict):
        return {k: as_numpy(v) for k, v in value.items()}
    return value.numpy()


def assert_same_batches(ours, theirs):
    ours, theirs = list(ours), list(theirs)
    assert len(ours) == len(theirs)
    for our_batch, their_batch in zip(ours, theirs):
        assert type(our_batch) is type(their_batch)
        for our_field, their_field in zip(our_batch, their_batch):
            assert our_field.dtype.name == str(their_field.dtype).replace("torch.", "")
            np.testing.assert_array_equal(our_field.numpy(), their_field.numpy())


@pytest.mark.parametrize("batch_size", [1, 3, 4, 10, 16])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_match_torch(batch_size, drop_last, rng):
    images = rng.standard_normal((10, 1, 4, 4)).astype(np.float32)
    labels = rng.integers(0, 10, 10)
    ours = DataLoader(TensorDataset(npconv.tensor(images), npconv.tensor(labels)), batch_size, drop_last=drop_last)
    theirs = torch_data.DataLoader(
        torch_data.TensorDataset(torch.tensor(images), torch.tensor(labels)), batch_size, drop_last=drop_last
    )
    assert len(ours) == len(theirs)
    assert_same_batches(ours, theirs)


def test_tensor_dataset_takes_arrays_and_indexes_like_torch(rng):
    images, labels = rng.standard_normal((6, 2)), rng.integers(0, 3, 6)
    ours, theirs = TensorDataset(images, labels), torch_data.TensorDataset(torch.tensor(images), torch.tensor(labels))
    assert len(ours) == len(theirs) == 6
    for our_field, their_field in zip(ours[2], theirs[2]):
        np.testing.assert_array_equal(our_field.numpy(), their_field.numpy())
    assert ours.tensors[0]._array is images  # wrapped without copying
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        torch_data.TensorDataset(torch.ones(3), torch.ones(4))
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(npconv.ones(3), npconv.ones(4))


class Samples(Dataset):
    """A map-style dataset with mixed fields, built identically for both frameworks."""

    def __init__(self, make_tensor):
        self.make_tensor = make_tensor

    def __len__(self):
        return 7

    def __getitem__(self, index):
        return {
            "image": self.make_tensor(np.full((2, 3), index, dtype=np.float32)),
            "array": np.arange(3) * index,
            "pair": (float(index), index),
        }


def test_default_collate_of_mixed_samples_matches_torch():
    ours = list(DataLoader(Samples(npconv.from_numpy), batch_size=3))
    theirs = list(torch_data.DataLoader(Samples(torch.from_numpy), batch_size=3))
    assert len(ours) == len(theirs) == 3
    for our_batch, their_batch in zip(ours, theirs):
        our_values, their_values = as_numpy(our_batch), as_numpy(their_batch)
        assert our_values.keys() == their_values.keys()
        np.testing.assert_array_equal(our_values["image"], their_values["image"])
        np.testing.assert_array_equal(our_values["array"], their_values["array"])
        assert isinstance(our_batch["pair"], list) and isinstance(their_batch["pair"], list)
        for our_field, their_field in zip(our_batch["pair"], their_batch["pair"]):
            assert our_field.dtype.name == str(their_field.dtype).replace("torch.", "")
            np.testing.assert_array_equal(our_field.numpy(), their_field.numpy())
    assert default_collate(["a", "b"]) == torch_data.default_collate(["a", "b"])


def test_batch_size_none_sampler_and_batch_sampler(rng):
    data = rng.standard_normal((5, 2))
    unbatched = list(DataLoader(TensorDataset(data), batch_size=None))
    assert len(unbatched) == 5 and tuple(unbatched[0][0].shape) == (2,)
    order = [4, 0, 2]
    sampled = DataLoader(TensorDataset(data), batch_size=2, sampler=order)
    assert len(sampled) == 2
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in sampled]), data[order])
    batched = DataLoader(TensorDataset(data), batch_sampler=[[1, 3], [0]])
    assert [b[0].shape[0] for b in batched] == [2, 1] and len(batched) == 2
    collated = DataLoader(TensorDataset(data), batch_size=2, collate_fn=lambda samples: len(samples))
    assert list(collated) == [2, 2, 1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sampler": [0, 1], "shuffle": True}, "sampler option is mutually exclusive with shuffle"),
        ({"batch_sampler": [[0]], "batch_size": 2}, "batch_sampler option is mutually exclusive"),
        ({"batch_size": None, "drop_last": True}, "batch_size=None option disables auto-batching"),
        ({"num_workers": -1}, "num_workers option should be non-negative"),
        ({"batch_size": 0}, "batch_size should be a positive integer value"),
    ],
)
def test_argument_errors_match_torch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        torch_data.DataLoader(torch_data.TensorDataset(torch.ones(3)), **kwargs)
    with pytest.raises(ValueError, match=message):
        DataLoader(TensorDataset(npconv.ones(3)), **kwargs)


def epoch_orders(loader, epochs=2):
    return [np.concatenate([batch[0].numpy() for batch in loader]) for _ in range(epochs)]


def test_shuffle_is_reproducible_with_a_seeded_generator():
    dataset = TensorDataset(np.arange(50))
    first = epoch_orders(DataLoader(dataset, 8, shuffle=True, generator=npconv.Generator().manual_seed(3)))
    again = epoch_orders(DataLoader(dataset, 8, shuffle=True, generator=npconv.Generator().manual_seed(3)))
    other = epoch_orders(DataLoader(dataset, 8, shuffle=True, generator=npconv.Generator().manual_seed(4)))
    for order in first:
        np.testing.assert_array_equal(np.sort(order), np.arange(50))  # every sample once per epoch
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])  # a new permutation each epoch
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[0], np.arange(50))


def test_shuffle_without_generator_follows_manual_seed():
    dataset = TensorDataset(np.arange(20))
    npconv.manual_seed(11)
    first = epoch_orders(DataLoader(dataset, 5, shuffle=True), epochs=1)[0]
    npconv.manual_seed(11)
    second = epoch_orders(DataLoader(dataset, 5, shuffle=True), epochs=1)[0]
    np.testing.assert_array_equal(first, second)


def test_drop_last_with_shuffle_yields_full_batches_only():
    loader = DataLoader(TensorDataset(np.arange(23)), 5, shuffle=True, drop_last=True, generator=npconv.Generator().manual_seed(0))
    sizes = [batch[0].shape[0] for batch in loader]
    assert sizes == [5, 5, 5, 5] and len(loader) == 4


def test_dataset_base_requires_getitem():
    with pytest.raises(NotImplementedError, match="Subclasses of Dataset should implement __getitem__"):
        Dataset()[0]
