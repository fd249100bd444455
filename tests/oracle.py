"""Shared comparisons against the oracle, torch: tolerances by dtype and forward-plus-gradient checks."""

import numpy as np
import torch

import npconv

DTYPES = [np.float64, np.float32]


def assert_close(actual, expected, dtype):
    """Same shape and dtype; values to ~1e-10 relative in float64, and in float32 to ~1e-5 of the largest
    finite expected magnitude (so one infinite entry does not loosen the check of the others)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    tolerance = 1e-10 if dtype == np.float64 else 1e-5
    finite = expected[np.isfinite(expected)] if expected.dtype.kind == "f" else expected
    scale = max(float(np.abs(finite).max(initial=0.0)), 1e-30)
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance * scale)


def check_against_torch(ours, theirs, arrays, dtype, seed=0):
    """Run both on the same inputs; compare outputs and the gradients of every input for a random upstream."""
    inputs = [npconv.tensor(a, requires_grad=True) for a in arrays]
    torch_inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = ours(*inputs), theirs(*torch_inputs)
    assert_close(out.detach().numpy(), expected.detach().numpy(), dtype)
    upstream = np.random.default_rng(seed).standard_normal(tuple(expected.shape)).astype(dtype)
    out.backward(npconv.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    for tensor, torch_tensor in zip(inputs, torch_inputs):
        assert_close(tensor.grad.numpy(), torch_tensor.grad.numpy(), dtype)
