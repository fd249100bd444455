"""F.pad against torch 2.13: constant, reflect, replicate and circular padding of 1-3 dims, batched and
unbatched, negative pads (crops), forward and gradient; and its errors."""

import numpy as np
import pytest
import torch

import npconv
import npconv.nn.functional as F

torch.set_num_threads(1)

SPATIAL = {1: (5,), 2: (4, 5), 3: (3, 4, 5)}
PADS = {
    1: [(1, 2), (0, 3), (4, 4), (-1, 2), (2, -2)],
    2: [(1, 2, 0, 1), (2, 0, 3, 3), (-1, 1, 2, -1), (0, 0, 1, 1)],
    3: [(1, 1, 1, 1, 1, 1), (0, 2, 1, 0, 2, 1), (1, -1, 0, 2, -1, 1)],
}


def _cases() -> list[tuple[str, tuple[int, ...], tuple[int, ...], float | None]]:
    cases = []
    for mode in ("constant", "reflect", "replicate", "circular"):
        for dims, pad_list in PADS.items():
            for index, pad in enumerate(pad_list):
                batch = (2, 3) if index % 2 else (3,)  # batched and unbatched
                shape = (*batch, *SPATIAL[dims])
                if mode == "reflect" and any(p >= n for p, n in zip(pad[::-1], np.repeat(SPATIAL[dims], 2))):
                    continue
                value = 1.5 if mode == "constant" and index % 2 else None
                cases.append((mode, shape, pad, value))
    # constant pads any number of trailing dims, of any rank
    cases += [("constant", (2, 3), (1, 1, 2, 0), None), ("constant", (4,), (2, 3), -2.0),
              ("constant", (2, 3, 4, 5), (1, 0, 0, 1, 2, 2, 1, 1), None), ("constant", (2, 3), (-1, -1), None),
              ("constant", (2, 3, 4), (), None), ("circular", (1, 2, 5), (-3, -2), None), ("circular", (1, 2, 5), (-2, -2), None),
              ("circular", (2, 4, 5), (3, -2, 0, 0), None)]
    return cases


CASES = _cases()


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("mode", "shape", "pad", "value"), CASES, ids=[f"{m}-{s}-{p}-{v}" for m, s, p, v in CASES])
def test_pad_matches_torch(mode: str, shape: tuple, pad: tuple, value: float | None, dtype: type) -> None:
    rng = np.random.default_rng([len(shape), *(p + 10 for p in pad)])
    x = rng.standard_normal(shape).astype(dtype)
    ours, theirs = npconv.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    kwargs = {} if value is None else {"value": value}
    out_ours = F.pad(ours, pad, mode, **kwargs)
    out_theirs = torch.nn.functional.pad(theirs, pad, mode, **kwargs)
    assert out_ours.shape == tuple(out_theirs.shape)
    assert out_ours.dtype.name == str(out_theirs.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(out_ours.detach().numpy(), out_theirs.detach().numpy())
    upstream = rng.standard_normal(tuple(out_theirs.shape)).astype(dtype)
    out_ours.backward(npconv.tensor(upstream))
    out_theirs.backward(torch.tensor(upstream))
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=tolerance, atol=tolerance)


def test_pad_defaults_and_positional_order() -> None:
    x = np.arange(12.0).reshape(1, 3, 4)
    np.testing.assert_array_equal(F.pad(npconv.tensor(x), (1, 2)).numpy(), torch.nn.functional.pad(torch.tensor(x), (1, 2)).numpy())
    np.testing.assert_array_equal(
        F.pad(npconv.tensor(x), (1, 2), "constant", 3.0).numpy(),
        torch.nn.functional.pad(torch.tensor(x), (1, 2), "constant", 3.0).numpy(),
    )
    np.testing.assert_array_equal(
        F.pad(input=npconv.tensor(x), pad=[2, 1], mode="replicate").numpy(),
        torch.nn.functional.pad(input=torch.tensor(x), pad=[2, 1], mode="replicate").numpy(),
    )


def test_pad_accepts_numpy_arrays_and_keeps_integer_dtype() -> None:
    x = np.arange(6).reshape(2, 3)
    ours = F.pad(x, (1, 1), value=7)
    theirs = torch.nn.functional.pad(torch.from_numpy(x), (1, 1), value=7)
    assert isinstance(ours, npconv.Tensor) and ours.dtype == npconv.int64
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_pad_of_complex_tensor_and_gradient() -> None:
    x = np.array([[1 + 2j, 3 - 1j, 0.5j]])
    ours, theirs = npconv.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.pad(ours, (2, 1), "circular").abs().sum().backward()
    torch.nn.functional.pad(theirs, (2, 1), "circular").abs().sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_pad_output_does_not_alias_input() -> None:
    x = npconv.zeros(2, 3)
    padded = F.pad(x, (0, 0))
    padded.fill_(1.0)
    assert not x.numpy().any()


ERRORS = [
    ("odd length", (1, 3, 4), (1, 2, 3), "constant", None),
    ("too long", (3, 4), (1, 1, 1, 1, 1, 1), "constant", None),
    ("unknown mode", (1, 3, 4), (1, 1), "wrap", None),
    ("reflect pad equal to size", (1, 2, 4), (4, 0), "reflect", None),
    ("reflect pad larger in second dim", (1, 2, 3, 4), (0, 1, 3, 0), "reflect", None),
    ("circular wraps twice", (1, 2, 3), (4, 0), "circular", None),
    ("reflect 4 pads on 2-d input", (3, 4), (1, 1, 1, 1), "reflect", None),
    ("replicate 2 pads on 4-d input", (1, 2, 3, 4), (1, 1), "replicate", None),
    ("replicate 8 pads", (1, 1, 2, 3, 4), (1, 1, 1, 1, 1, 1, 1, 1), "replicate", None),
    ("circular on 1-d input", (4,), (1, 1), "circular", None),
    ("value with reflect", (1, 2, 4), (1, 1), "reflect", 2.0),
    ("replicate of empty dim", (1, 0, 4), (1, 1, 1, 1), "replicate", None),
    ("non-integer pad", (1, 2, 4), (1.5, 1), "constant", None),
]


@pytest.mark.parametrize(("name", "shape", "pad", "mode", "value"), ERRORS, ids=[e[0] for e in ERRORS])
def test_pad_errors_match_torch_type(name: str, shape: tuple, pad: tuple, mode: str, value: float | None) -> None:
    kwargs = {} if value is None else {"value": value}
    with pytest.raises(Exception) as theirs:  # noqa: B017 - the type is compared below
        torch.nn.functional.pad(torch.zeros(shape), pad, mode, **kwargs)
    with pytest.raises(theirs.type) as ours:
        F.pad(npconv.zeros(*shape), pad, mode, **kwargs)
    assert ours.type is theirs.type, f"torch: {theirs.type.__name__}: {theirs.value}; npconv: {ours.value}"


@pytest.mark.parametrize(
    ("shape", "pad", "mode", "message"),
    [
        ((1, 3, 4), (1, 2, 3), "constant", "Padding length must be divisible by 2"),
        ((3, 4), (1, 1, 1, 1, 1, 1), "constant", "Padding length should be less than or equal to two times the input dimension"),
        ((1, 2, 4), (4, 0), "reflect", "Padding size should be less than the corresponding input dimension"),
        ((1, 2, 3), (4, 0), "circular", "Padding value causes wrapping around more than once"),
    ],
)
def test_pad_error_messages_share_torch_wording(shape: tuple, pad: tuple, mode: str, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        F.pad(npconv.zeros(*shape), pad, mode)
    with pytest.raises(RuntimeError, match=message):
        torch.nn.functional.pad(torch.zeros(shape), pad, mode)


def test_circular_pad_wider_than_what_a_crop_leaves_is_refused() -> None:
    """torch reads uninitialised memory or fails on an overlap here; npconv refuses it clearly."""
    with pytest.raises(RuntimeError, match="Padding value causes wrapping around more than once"):
        F.pad(npconv.zeros(1, 2, 5), (-4, 2), "circular")
