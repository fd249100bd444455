"""Property-based convolution tests: random valid configurations compared with torch (float64, forward and
gradients), finite-difference gradient checks that do not use torch, and the adjoint identity
<conv(x), y> = <x, conv_transpose(y)>."""

from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import npconv
import npconv.nn.functional as F
from conv_cases import ConvCase, assert_close, call_npconv, expected_output_shape, run_both


@st.composite
def conv_configurations(draw: st.DrawFn, transposed: bool | None = None) -> ConvCase:
    """A valid conv{1,2,3}d or conv_transpose{1,2,3}d call with small sizes."""
    ndim = draw(st.integers(1, 3))
    if transposed is None:
        transposed = draw(st.booleans())
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    per_dim = st.lists
    kernel = tuple(draw(per_dim(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    stride = tuple(draw(per_dim(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    dilation = tuple(draw(per_dim(st.integers(1, 3), min_size=ndim, max_size=ndim)))
    max_size = {1: 10, 2: 7, 3: 5}[ndim]
    kwargs: dict[str, Any] = {"stride": stride, "dilation": dilation, "groups": groups}
    if transposed:
        spatial = tuple(draw(per_dim(st.integers(1, max_size - 2), min_size=ndim, max_size=ndim)))
        kwargs["padding"] = tuple(draw(per_dim(st.integers(0, 2), min_size=ndim, max_size=ndim)))
        kwargs["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
        weight_shape = (in_channels, out_channels // groups, *kernel)
    else:
        spatial = tuple(draw(per_dim(st.integers(1, max_size), min_size=ndim, max_size=ndim)))
        padding = draw(
            st.one_of(
                st.integers(0, 3),
                st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim).map(tuple),
                st.sampled_from(["valid", "same"]),
            )
        )
        if padding == "same":
            kwargs["stride"] = 1
        kwargs["padding"] = padding
        weight_shape = (out_channels, in_channels // groups, *kernel)
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    case = ConvCase(ndim, transposed, (*batch, in_channels, *spatial), weight_shape, draw(st.booleans()), kwargs)
    assume(expected_output_shape(case) is not None)
    return case


@settings(max_examples=60)
@given(conv_configurations())
def test_random_configurations_match_torch(case: ConvCase) -> None:
    for name, (ours, theirs) in run_both(case, np.float64, seed=1).items():
        assert_close(ours, theirs, np.float64, f"{case.id} {name}")
    assert run_both(case, np.float64, gradients=False)["output"][0].shape == expected_output_shape(case)


def _loss_and_gradients(case: ConvCase, arrays: list, upstream: np.ndarray) -> tuple[float, list]:
    tensors = [None if a is None else npconv.tensor(a, requires_grad=True) for a in arrays]
    out = call_npconv(case, *tensors)
    loss = (out * npconv.tensor(upstream)).sum()
    loss.backward()
    return loss.item(), [None if t is None else t.grad.numpy() for t in tensors]


@settings(max_examples=40)
@given(conv_configurations(), st.integers(0, 2**32 - 1))
def test_gradients_match_central_differences(case: ConvCase, seed: int) -> None:
    """<∇f, d> equals (f(p + h·d) − f(p − h·d)) / 2h for random directions d; f is bilinear in (input,
    weight) and linear in bias, so central differences are exact up to rounding."""
    rng = np.random.default_rng(seed)
    arrays = list(case.arrays(np.float64, seed % 1000))
    upstream = rng.standard_normal(expected_output_shape(case))
    _, gradients = _loss_and_gradients(case, arrays, upstream)

    def loss(values: list) -> float:
        out = call_npconv(case, *(None if v is None else npconv.tensor(v) for v in values))
        return float(np.sum(out.numpy() * upstream))

    step = 1e-3
    for index, gradient in enumerate(gradients):
        if gradient is None:
            continue
        for _ in range(2):
            direction = rng.standard_normal(arrays[index].shape)
            plus, minus = list(arrays), list(arrays)
            plus[index] = arrays[index] + step * direction
            minus[index] = arrays[index] - step * direction
            numeric = (loss(plus) - loss(minus)) / (2 * step)
            analytic = float(np.sum(gradient * direction))
            assert abs(numeric - analytic) <= 1e-7 * max(1.0, abs(analytic)), (case.id, index, numeric, analytic)


def test_central_differences_catch_a_wrong_gradient() -> None:
    """The check above is sensitive: a gradient off by a little fails it."""
    case = ConvCase(2, False, (1, 2, 5, 4), (3, 2, 2, 3), True, {"padding": 1})
    arrays = list(case.arrays(np.float64, 0))
    upstream = np.random.default_rng(1).standard_normal(expected_output_shape(case))
    _, gradients = _loss_and_gradients(case, arrays, upstream)
    direction = np.random.default_rng(2).standard_normal(arrays[1].shape)
    shifted = [list(arrays), list(arrays)]
    shifted[0][1] = arrays[1] + 1e-3 * direction
    shifted[1][1] = arrays[1] - 1e-3 * direction
    plus, minus = (float(np.sum(call_npconv(case, *v).numpy() * upstream)) for v in shifted)
    numeric = (plus - minus) / 2e-3
    assert abs(numeric - float(np.sum(gradients[1] * direction))) < 1e-8
    assert abs(numeric - float(np.sum(gradients[1] * 1.0001 * direction))) > 1e-8


@settings(max_examples=60)
@given(conv_configurations(transposed=False), st.integers(0, 2**32 - 1))
def test_adjoint_identity(case: ConvCase, seed: int) -> None:
    """<conv(x, w), y> = <x, conv_transpose(y, w)> with the same stride, padding, dilation and groups,
    output_padding picking the input's size among the transposed convolution's possible outputs."""
    padding = case.kwargs["padding"]
    if isinstance(padding, str):
        return  # conv_transpose takes numeric padding only; 'valid' and 'same' are covered by the conv tests
    rng = np.random.default_rng(seed)
    ndim = case.ndim
    x = rng.standard_normal(case.input_shape)
    w = rng.standard_normal(case.weight_shape)
    out_shape = expected_output_shape(case)
    y = rng.standard_normal(out_shape)
    stride = case.kwargs["stride"]
    dilation = case.kwargs["dilation"]
    pads = (padding,) * ndim if isinstance(padding, int) else padding
    strides = (stride,) * ndim if isinstance(stride, int) else stride
    smallest = [
        (o - 1) * s - 2 * p + d * (k - 1) + 1
        for o, s, p, d, k in zip(out_shape[-ndim:], strides, pads, dilation, case.weight_shape[2:])
    ]
    output_padding = tuple(n - m for n, m in zip(case.input_shape[-ndim:], smallest))
    conv = getattr(F, f"conv{ndim}d")
    conv_transpose = getattr(F, f"conv_transpose{ndim}d")
    forward = conv(x, w, None, stride, padding, dilation, case.kwargs["groups"]).numpy()
    adjoint = conv_transpose(y, w, None, stride, padding, output_padding, case.kwargs["groups"], dilation).numpy()
    assert adjoint.shape == x.shape
    left, right = float(np.sum(forward * y)), float(np.sum(x * adjoint))
    assert abs(left - right) <= 1e-10 * max(1.0, abs(left)), (case.id, left, right)
