"""Padding options beyond torch: 'same_upper'/'same_lower' for any stride, (lo, hi) pairs, 'causal',
padding modes and 'same'/'valid' for transposed convolutions.

References are independent of the code under test: explicit torch ``F.pad`` + torch's VALID convolution
for the conv forms, and the adjoint identity ⟨conv(x), y⟩ = ⟨x, conv_transpose(y)⟩ for the transposed ones.
"""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import npconv
import npconv.nn.functional as F
from npconv.nn.functional.padding_modes import conv_transpose_nd_with_padding_mode

TORCH_CONV = {1: TF.conv1d, 2: TF.conv2d, 3: TF.conv3d}


def torch_reference(x, w, b, pairs, stride, dilation, groups, mode="constant"):
    """torch: pad explicitly (flat pad tuple, last dim first), then a VALID convolution."""
    flat = [v for lo_hi in reversed(pairs) for v in lo_hi]
    padded = TF.pad(x, flat, mode=mode)
    return TORCH_CONV[len(pairs)](padded, w, b, stride, 0, dilation, groups)


def tf_same_pairs(sizes, kernel, stride, dilation, upper):
    """TensorFlow/ONNX SAME written out from the definition: out = ceil(in / s)."""
    pairs = []
    for n, k, s, d in zip(sizes, kernel, stride, dilation):
        out = math.ceil(n / s)
        total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
        pairs.append((total // 2, total - total // 2) if upper else (total - total // 2, total // 2))
    return pairs


def compare_with_torch(ndim, sizes, kernel, stride, dilation, groups, padding, pairs, mode, rng):
    channels, out_channels = 2 * groups, 3 * groups
    x = rng.standard_normal((2, channels, *sizes))
    w = rng.standard_normal((out_channels, channels // groups, *kernel))
    b = rng.standard_normal(out_channels)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    expected = torch_reference(tx, tw, tb, pairs, stride, dilation, groups, "constant" if mode == "zeros" else mode)
    nx, nw, nb = (npconv.tensor(a, requires_grad=True) for a in (x, w, b))
    got = F.conv_nd_with_padding_mode(ndim, nx, nw, nb, stride, padding, dilation, groups, mode)
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    seed = rng.standard_normal(expected.shape)
    expected.backward(torch.tensor(seed))
    got.backward(seed)
    for ours, theirs in ((nx, tx), (nw, tw), (nb, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_same_upper_lower_match_explicit_padding(ndim, upper, rng):
    sizes_options = {1: [(7,), (10,)], 2: [(7, 6), (5, 9)], 3: [(5, 4, 6)]}
    count = 0
    for sizes in sizes_options[ndim]:
        for stride, kernel, dilation in itertools.product((1, 2, 3), (2, 3), (1, 2)):
            strides = tuple(stride + i % 2 for i in range(ndim)) if ndim > 1 else (stride,)
            kernels = tuple(kernel + i for i in range(ndim))
            dilations = (dilation,) * ndim
            pairs = tf_same_pairs(sizes, kernels, strides, dilations, upper)
            padding = "same_upper" if upper else "same_lower"
            compare_with_torch(ndim, sizes, kernels, strides, dilations, 1, padding, pairs, "zeros", rng)
            out = F.conv_nd(ndim, npconv.zeros(1, 1, *sizes), npconv.zeros(1, 1, *kernels), stride=strides, padding=padding, dilation=dilations)
            assert tuple(out.shape[2:]) == tuple(math.ceil(n / s) for n, s in zip(sizes, strides))
            count += 1
    assert count > 0


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_asymmetric_pairs_with_every_padding_mode(ndim, mode, rng):
    sizes = (7, 6, 5)[:ndim]
    kernel = (3, 2, 2)[:ndim]
    pair_options = [((0, 2), (1, 0), (2, 1)), ((1, 1), (0, 3), (1, 0)), ((2, 0), (2, 2), (0, 1))]
    for pairs, stride, groups in itertools.product(pair_options, (1, 2), (1, 2)):
        pairs = [tuple(p) for p in pairs[:ndim]]
        compare_with_torch(ndim, sizes, kernel, (stride,) * ndim, (1,) * ndim, groups, pairs, pairs, mode, rng)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_same_upper_with_padding_modes(mode, rng):
    pairs = tf_same_pairs((9, 8), (3, 4), (2, 2), (1, 1), upper=True)
    compare_with_torch(2, (9, 8), (3, 4), (2, 2), (1, 1), 1, "same_upper", pairs, mode, rng)


@pytest.mark.parametrize("kernel,dilation,stride", [(3, 1, 1), (2, 1, 1), (3, 2, 1), (4, 3, 2), (1, 1, 1)])
def test_causal_matches_left_padding_and_is_causal(kernel, dilation, stride, rng):
    length = 12
    compare_with_torch(1, (length,), (kernel,), (stride,), (dilation,), 1, "causal", [(dilation * (kernel - 1), 0)], "zeros", rng)
    x = rng.standard_normal((1, 2, length))
    w = rng.standard_normal((3, 2, kernel))
    base = F.conv1d(x, w, padding="causal", dilation=dilation).numpy()
    assert base.shape[-1] == length
    for t in range(length):
        perturbed = x.copy()
        perturbed[..., t] += 1.0
        changed = np.abs(F.conv1d(perturbed, w, padding="causal", dilation=dilation).numpy() - base).max(axis=(0, 1)) > 0
        assert not changed[:t].any(), f"output before t={t} changed when input t changed"
        assert changed[t:].any()


def adjoint_gap(conv_out, y, x, transposed_out):
    lhs = float(np.vdot(conv_out, y))
    rhs = float(np.vdot(x, transposed_out))
    return abs(lhs - rhs) / max(1.0, abs(lhs))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "zeros"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_transposed_padding_modes_are_adjoint_of_conv(ndim, mode, rng):
    sizes_by_dim = {1: [5, 8, 9], 2: [6, 7], 3: [5]}
    checked = 0
    for size, stride, padding, dilation, kernel, groups in itertools.product(
        sizes_by_dim[ndim], (1, 2, 3), (0, 1, 2), (1, 2), (2, 3), (1, 2)
    ):
        sizes = tuple(size + i for i in range(ndim))
        channels, out_channels = 2 * groups, 3 * groups
        w = rng.standard_normal((out_channels, channels // groups, *(kernel,) * ndim))
        x = rng.standard_normal((2, channels, *sizes))
        try:
            y = F.conv_nd_with_padding_mode(ndim, x, w, None, stride, padding, dilation, groups, mode).numpy()
        except RuntimeError:
            continue  # the convolution itself is impossible (kernel larger than the padded input)
        probe = rng.standard_normal(y.shape)
        back = conv_transpose_nd_with_padding_mode(
            ndim, probe, w, None, stride, padding, 0, groups, dilation, mode, output_size=sizes
        ).numpy()
        assert back.shape == x.shape
        assert adjoint_gap(y, probe, x, back) < 1e-10
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("ndim", [1, 2])
def test_transposed_same_is_adjoint_of_same_upper(ndim, mode, rng):
    for size, stride, kernel, dilation in itertools.product((4, 5), (1, 2, 3), (1, 2, 3, 4), (1, 2)):
        sizes = (size,) * ndim
        w = rng.standard_normal((3, 2, *(kernel,) * ndim))
        y = rng.standard_normal((1, 3, *sizes))
        back = conv_transpose_nd_with_padding_mode(ndim, y, w, None, stride, "same", 0, 1, dilation, mode)
        assert tuple(back.shape[2:]) == tuple(n * stride for n in sizes)
        x = rng.standard_normal(back.shape)
        try:
            forward = F.conv_nd_with_padding_mode(ndim, x, w, None, stride, "same_upper", dilation, 1, mode).numpy()
        except RuntimeError:
            continue
        assert forward.shape == y.shape
        assert adjoint_gap(forward, y, x, back.numpy()) < 1e-10


def test_transposed_valid_is_padding_zero(rng):
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((2, 3, 3, 2))
    expected = TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), stride=2).numpy()
    np.testing.assert_allclose(F.conv_transpose2d(x, w, stride=2, padding="valid").numpy(), expected, rtol=1e-12)


def test_transposed_padding_mode_gradients_match_finite_differences(rng):
    y = rng.standard_normal((1, 2, 4, 5))
    w = rng.standard_normal((2, 3, 3, 3))
    ny, nw = npconv.tensor(y, requires_grad=True), npconv.tensor(w, requires_grad=True)
    out = conv_transpose_nd_with_padding_mode(2, ny, nw, None, 2, 1, 1, 1, 1, "reflect")
    direction = rng.standard_normal(out.shape)
    (out * npconv.tensor(direction)).sum().backward()
    for array, grad in ((y, ny.grad.numpy()), (w, nw.grad.numpy())):
        step = rng.standard_normal(array.shape)
        eps = 1e-6
        array += eps * step
        plus = conv_transpose_nd_with_padding_mode(2, y, w, None, 2, 1, 1, 1, 1, "reflect").numpy()
        array -= 2 * eps * step
        minus = conv_transpose_nd_with_padding_mode(2, y, w, None, 2, 1, 1, 1, 1, "reflect").numpy()
        array += eps * step
        numeric = float(np.sum((plus - minus) * direction) / (2 * eps))
        assert abs(numeric - float(np.sum(grad * step))) < 1e-6 * max(1.0, abs(numeric))


def test_functional_output_size(rng):
    x = rng.standard_normal((1, 3, 16, 16))
    w = rng.standard_normal((3, 4, 3, 3))
    got = F.conv_transpose2d(x, w, stride=2, padding=1, output_size=(32, 32))
    expected = TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), stride=2, padding=1, output_padding=1)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"requested an output size of \[40, 40\], but valid sizes range from \[31, 31\] to \[32, 32\]"):
        F.conv_transpose2d(x, w, stride=2, padding=1, output_size=(40, 40))


@pytest.mark.parametrize(
    "call,error,pattern",
    [
        (lambda x, w: F.conv2d(x, w, padding=((1, 1),)), ValueError, r"exactly 2 pairs.*padding=\(\(1, 1\),\)"),
        (lambda x, w: F.conv2d(x, w, padding=((1, 1), (1, 2, 3))), ValueError, r"exactly 2 pairs"),
        (lambda x, w: F.conv2d(x, w, padding=((1, -1), (0, 0))), RuntimeError, r"negative padding.*\(1, -1\)"),
        (lambda x, w: F.conv2d(x, w, padding="causal"), ValueError, r"'causal' is only defined for 1-d.*conv2d is 2-d"),
        (lambda x, w: F.conv2d(x, w, padding="same", stride=2), RuntimeError, r"padding='same' is not supported for strided"),
        (lambda x, w: F.conv2d(x, w, padding="upper"), RuntimeError, r"Invalid padding string.*'upper'"),
        (lambda x, w: F.conv_transpose2d(x, w, padding="same_upper"), RuntimeError, r"Invalid padding string.*'same_upper'"),
    ],
)
def test_bad_padding_is_a_clear_error(call, error, pattern):
    x, w = npconv.randn(1, 2, 6, 6), npconv.randn(2, 2, 3, 3)
    with pytest.raises(error, match=pattern):
        call(x, w)


def test_same_with_stride_keeps_torch_error_type():
    x, w = np.zeros((1, 2, 6, 6)), np.zeros((2, 2, 3, 3))
    with pytest.raises(RuntimeError) as theirs:
        TF.conv2d(torch.tensor(x), torch.tensor(w), padding="same", stride=2)
    with pytest.raises(type(theirs.value), match="padding='same' is not supported for strided convolutions"):
        F.conv2d(x, w, padding="same", stride=2)


# ----------------------------------------------------------------------------- module forms


def copy_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_modules_take_pairs_and_same_upper(mode, rng):
    reference = torch.nn.Conv2d(2, 4, (3, 2), stride=2, bias=True).double()
    for padding in (((1, 0), (2, 1)), "same_upper", "same_lower"):
        layer = npconv.nn.Conv2d(2, 4, (3, 2), stride=2, padding=padding, padding_mode=mode, dtype=npconv.float64)
        copy_weights(layer, reference)
        x = rng.standard_normal((2, 2, 9, 8))
        pairs = padding if not isinstance(padding, str) else tf_same_pairs((9, 8), (3, 2), (2, 2), (1, 1), padding == "same_upper")
        expected = torch_reference(torch.tensor(x), reference.weight, reference.bias, pairs, (2, 2), (1, 1), 1,
                                   "constant" if mode == "zeros" else mode)
        np.testing.assert_allclose(layer(x).detach().numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
        assert f"padding={padding}" in repr(layer)


def test_causal_conv1d_module(rng):
    layer = npconv.nn.Conv1d(3, 5, 4, padding="causal", dilation=2, dtype=npconv.float64)
    x = rng.standard_normal((2, 3, 20))
    expected = TF.conv1d(TF.pad(torch.tensor(x), (6, 0)), torch.tensor(layer.weight.detach().numpy()),
                         torch.tensor(layer.bias.detach().numpy()), dilation=2)
    np.testing.assert_allclose(layer(x).detach().numpy(), expected.numpy(), rtol=1e-10)
    with pytest.raises(ValueError, match="'causal' is only defined for 1-d"):
        npconv.nn.Conv2d(3, 5, 3, padding="causal")


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv_transpose_modules_accept_padding_modes_torch_rejects(mode, rng):
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported'):
        torch.nn.ConvTranspose2d(3, 4, 3, padding_mode=mode)
    for ndim in (1, 2, 3):
        conv = getattr(npconv.nn, f"Conv{ndim}d")(4, 6, 3, stride=2, padding=1, groups=2, padding_mode=mode, dtype=npconv.float64)
        up = getattr(npconv.nn, f"ConvTranspose{ndim}d")(6, 4, 3, stride=2, padding=1, groups=2, bias=False,
                                                          padding_mode=mode, dtype=npconv.float64)
        up.weight.data = conv.weight.data
        conv.bias.data = npconv.zeros(6, dtype=npconv.float64)
        x = rng.standard_normal((2, 4, *(7,) * ndim))
        y = conv(x).detach().numpy()
        probe = rng.standard_normal(y.shape)
        back = up(probe, output_size=x.shape[2:]).detach().numpy()
        assert adjoint_gap(y, probe, x, back) < 1e-10
        assert f"padding_mode={mode}" in repr(up)


def test_conv_transpose_module_same_and_valid(rng):
    up = npconv.nn.ConvTranspose2d(3, 2, 4, stride=2, padding="same")
    assert tuple(up(npconv.randn(1, 3, 5, 6)).shape) == (1, 2, 10, 12)
    valid = npconv.nn.ConvTranspose2d(3, 2, 4, stride=2, padding="valid")
    reference = torch.nn.ConvTranspose2d(3, 2, 4, stride=2)
    copy_weights(valid, reference)
    x = rng.standard_normal((1, 3, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(valid(x).detach().numpy(), reference(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


LAZY = [
    ("LazyConv1d", "Conv1d", (6, 3), {"stride": 2}, (2, 4, 11)),
    ("LazyConv2d", "Conv2d", (6, 3), {"padding": 1, "groups": 2}, (2, 4, 7, 6)),
    ("LazyConv3d", "Conv3d", (6, 2), {}, (4, 5, 4, 3)),
    ("LazyConvTranspose1d", "ConvTranspose1d", (6, 3), {"stride": 2, "output_padding": 1}, (2, 4, 5)),
    ("LazyConvTranspose2d", "ConvTranspose2d", (6, 3), {"groups": 2}, (4, 5, 4)),
    ("LazyConvTranspose3d", "ConvTranspose3d", (6, 2), {"stride": 2}, (1, 2, 3, 3, 3)),
]


@pytest.mark.parametrize("lazy_name,plain_name,args,kwargs,input_shape", LAZY, ids=[c[0] for c in LAZY])
def test_lazy_layers_behave_like_torch(lazy_name, plain_name, args, kwargs, input_shape, rng):
    theirs = getattr(torch.nn, lazy_name)(*args, **kwargs).double()
    ours = getattr(npconv.nn, lazy_name)(*args, **kwargs, dtype=npconv.float64)
    assert repr(ours) == repr(theirs)
    assert repr(ours.weight) == repr(theirs.weight) == "<UninitializedParameter>"
    x = rng.standard_normal(input_shape)
    expected = theirs(torch.tensor(x))
    ours(x)
    assert type(ours).__name__ == type(theirs).__name__ == plain_name
    assert repr(ours) == repr(theirs)
    copy_weights(ours, theirs)
    np.testing.assert_allclose(ours(x).detach().numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_lazy_initialisation_draws_like_the_plain_layer():
    npconv.manual_seed(7)
    lazy = npconv.nn.LazyConv2d(8, 3)
    lazy(npconv.zeros(1, 5, 6, 6))
    npconv.manual_seed(7)
    plain = npconv.nn.Conv2d(5, 8, 3)
    np.testing.assert_array_equal(lazy.weight.detach().numpy(), plain.weight.detach().numpy())
    np.testing.assert_array_equal(lazy.bias.detach().numpy(), plain.bias.detach().numpy())


def test_lazy_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups.*5 channels and groups=2"):
        npconv.nn.LazyConv2d(8, 3, groups=2)(npconv.zeros(1, 5, 6, 6))
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d"):
        npconv.nn.LazyConv2d(8, 3)(npconv.zeros(6, 6))
