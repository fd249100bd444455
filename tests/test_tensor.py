"""Tensor features against torch 2.13: creation and dtype inference, memory sharing, Size, attributes,
conversion, data/grad/requires_grad, detach/clone/contiguous, in-place initialisers, repr, seeding."""

import numpy as np
import pytest
import torch

import npconv

torch.set_num_threads(1)


def _dtype_name(dtype: object) -> str:
    return str(dtype).removeprefix("torch.").removeprefix("npconv.")


def _same(ours: npconv.Tensor, theirs: torch.Tensor) -> None:
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert _dtype_name(ours.dtype) == _dtype_name(theirs.dtype)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# --------------------------------------------------------------------- creation and dtype inference
TENSOR_DATA = [
    1.0, 3, True, 2 + 1j, [1, 2, 3], [1.0, 2], [[1, 2], [3, 4]], [True, False], [1, 2.5, True], [[1.5], [2.0]],
    np.float64(1.5), np.int32(4), np.array([1.0, 2.0]), np.array([1, 2], dtype=np.int32),
    np.array([1.0], dtype=np.float16), np.array([[1, 2]], dtype=np.uint8), np.array([1 + 2j]), [],
    [np.float64(1.0), 2.0],
]


@pytest.mark.parametrize("data", TENSOR_DATA, ids=repr)
def test_tensor_dtype_inference_matches_torch(data: object) -> None:
    _same(npconv.tensor(data), torch.tensor(data))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "complex64", "int8", "uint8", "int16", "int32", "int64", "bool"])
def test_tensor_with_explicit_dtype(dtype: str) -> None:
    data = [[0, 1], [2, 3]]
    _same(npconv.tensor(data, dtype=getattr(npconv, dtype)), torch.tensor(data, dtype=getattr(torch, dtype)))


def test_dtype_aliases_and_repr() -> None:
    assert npconv.float is npconv.float32 and npconv.double is npconv.float64 and npconv.half is npconv.float16
    assert npconv.long is npconv.int64 and npconv.int is npconv.int32 and npconv.short is npconv.int16
    assert npconv.cfloat is npconv.complex64 and npconv.cdouble is npconv.complex128
    for name in ("float32", "float64", "int64", "bool", "complex128"):
        assert repr(getattr(npconv, name)) == repr(getattr(torch, name)).replace("torch.", "npconv.")


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("zeros", (2, 3), {}), ("zeros", ((2, 3),), {}), ("zeros", ([4],), {"dtype": "float64"}),
        ("ones", (3,), {}), ("ones", (2, 2), {"dtype": "int64"}), ("ones", ((),), {}),
        ("full", ((2, 2), 1.5), {}), ("full", ((2,), 7), {}), ("full", ((2,), True), {}),
        ("full", ((1, 2), 3), {"dtype": "float64"}),
        ("arange", (5,), {}), ("arange", (1, 7, 2), {}), ("arange", (0, 1, 0.25), {}), ("arange", (0.0, 3), {}),
        ("arange", (4,), {"dtype": "float64"}), ("arange", (-3, 3), {"dtype": "float32"}),
        ("eye", (3,), {}), ("eye", (2, 3), {}),
        ("linspace", (0, 1, 5), {}),
    ],
    ids=lambda v: v if isinstance(v, str) else repr(v),
)
def test_creation_functions_match_torch(name: str, args: tuple, kwargs: dict) -> None:
    def resolve(module: object) -> dict:
        return {k: getattr(module, v) if k == "dtype" else v for k, v in kwargs.items()}

    ours = getattr(npconv, name)(*args, **resolve(npconv))
    theirs = getattr(torch, name)(*args, **resolve(torch))
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert _dtype_name(ours.dtype) == _dtype_name(theirs.dtype)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["empty", "rand", "randn"])
def test_shape_only_creation_functions(name: str) -> None:
    for args, kwargs in (((2, 3), {}), (((4,),), {}), ((2,), {"dtype": "float64"})):
        ours = getattr(npconv, name)(*args, **{k: getattr(npconv, v) for k, v in kwargs.items()})
        theirs = getattr(torch, name)(*args, **{k: getattr(torch, v) for k, v in kwargs.items()})
        assert tuple(ours.shape) == tuple(theirs.shape)
        assert _dtype_name(ours.dtype) == _dtype_name(theirs.dtype)
    assert npconv.rand(2, requires_grad=True).requires_grad


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_like_functions_keep_shape_and_dtype(name: str, dtype: str) -> None:
    ours = getattr(npconv, name)(npconv.zeros(2, 3, dtype=getattr(npconv, dtype)))
    theirs = getattr(torch, name)(torch.zeros(2, 3, dtype=getattr(torch, dtype)))
    assert tuple(ours.shape) == tuple(theirs.shape) and _dtype_name(ours.dtype) == _dtype_name(theirs.dtype)
    if name in ("zeros_like", "ones_like"):
        _same(ours, theirs)
    overridden = getattr(npconv, name)(npconv.zeros(2, dtype=getattr(npconv, dtype)), dtype=npconv.float16)
    assert overridden.dtype == npconv.float16


def test_full_like() -> None:
    _same(npconv.full_like(npconv.zeros(2, 2, dtype=npconv.int64), 3), torch.full_like(torch.zeros(2, 2, dtype=torch.int64), 3))


def test_random_values_lie_in_their_distribution() -> None:
    npconv.manual_seed(0)
    uniform = npconv.rand(10000).numpy()
    assert uniform.min() >= 0 and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 0.02
    normal = npconv.randn(10000).numpy()
    assert abs(normal.mean()) < 0.05 and abs(normal.std() - 1) < 0.05
    assert npconv.randn(3, dtype=npconv.float64).dtype == npconv.float64


# --------------------------------------------------------------------- memory sharing
def test_from_numpy_shares_memory_both_ways() -> None:
    array = np.zeros(3)
    tensor = npconv.from_numpy(array)
    assert tensor.dtype == npconv.float64
    array[0] = 5
    assert tensor[0].item() == 5
    tensor.fill_(2.0)
    np.testing.assert_array_equal(array, [2.0, 2.0, 2.0])
    assert np.shares_memory(tensor.numpy(), array)


def test_numpy_shares_memory_and_tensor_copies() -> None:
    tensor = npconv.zeros(2, 2)
    view = tensor.numpy()
    view[0, 0] = 7
    assert tensor[0, 0].item() == 7
    array = np.ones(2, dtype=np.float32)
    copied = npconv.tensor(array)
    array[0] = 9
    assert copied[0].item() == 1
    assert np.asarray(tensor) is tensor.numpy() or np.shares_memory(np.asarray(tensor), tensor.numpy())


def test_from_numpy_rejects_non_arrays_and_unsupported_dtypes() -> None:
    with pytest.raises(TypeError):
        npconv.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError):
        torch.from_numpy([1.0, 2.0])
    with pytest.raises(TypeError, match="uint32"):
        npconv.from_numpy(np.zeros(2, dtype=np.uint32))


def test_numpy_of_tensor_requiring_grad_raises_like_torch() -> None:
    with pytest.raises(RuntimeError, match=r"Use tensor.detach\(\).numpy\(\) instead"):
        npconv.zeros(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError, match=r"Use tensor.detach\(\).numpy\(\) instead"):
        torch.zeros(2, requires_grad=True).numpy()


# --------------------------------------------------------------------- Size and attributes
def test_size_is_a_tuple_printed_under_npconv_name() -> None:
    shape = npconv.zeros(2, 3, 4).shape
    assert isinstance(shape, tuple) and isinstance(shape, npconv.Size)
    assert shape == (2, 3, 4) and shape == torch.Size([2, 3, 4])
    assert repr(shape) == repr(torch.Size([2, 3, 4])).replace("torch.", "npconv.") == "npconv.Size([2, 3, 4])"
    assert str(shape) == "npconv.Size([2, 3, 4])"
    assert repr(npconv.zeros(()).shape) == "npconv.Size([])"
    assert shape[1:] == (3, 4) and len(shape) == 3 and shape.numel() == 24
    assert npconv.Size([1, 2]) == (1, 2)


@pytest.mark.parametrize(
    "expression", ["shape[1:]", "shape[::-1]", "shape + (5,)", "(5,) + shape", "shape * 2", "shape + shape"]
)
def test_size_operations_stay_sizes_as_in_torch(expression: str) -> None:
    ours = eval(expression, {"shape": npconv.zeros(2, 3, 4).shape})
    theirs = eval(expression, {"shape": torch.zeros(2, 3, 4).shape})
    assert ours == theirs
    assert repr(ours) == repr(theirs).replace("torch.", "npconv.")
    assert ours[0] == theirs[0] and type(ours[0]) is int


def test_size_dim_and_friends() -> None:
    ours, theirs = npconv.zeros(2, 3, 4), torch.zeros(2, 3, 4)
    assert ours.size() == theirs.size()
    for dim in (0, 1, 2, -1, -3):
        assert ours.size(dim) == theirs.size(dim)
        assert ours.size(dim=dim) == theirs.size(dim=dim)
    with pytest.raises(IndexError, match="Dimension out of range"):
        ours.size(3)
    with pytest.raises(IndexError, match="Dimension out of range"):
        theirs.size(3)
    assert ours.dim() == ours.ndim == theirs.dim() == 3
    assert ours.numel() == theirs.numel() == 24
    assert len(ours) == 2
    assert ours.dtype == npconv.float32
    assert ours.is_floating_point() and not npconv.zeros(1, dtype=npconv.int64).is_floating_point()


@pytest.mark.parametrize("data", [3.5, [1.5, 2.0], [[1, 2], [3, 4]], True, [[True]], 7])
def test_item_and_tolist_match_torch(data: object) -> None:
    ours, theirs = npconv.tensor(data), torch.tensor(data)
    assert ours.tolist() == theirs.tolist()
    assert type(ours.tolist()) is type(theirs.tolist())
    if theirs.numel() == 1:
        assert ours.item() == theirs.item()
        assert type(ours.item()) is type(theirs.item())


def test_item_of_many_elements_raises_like_torch() -> None:
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
        npconv.zeros(2).item()
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
        torch.zeros(2).item()


def test_array_protocol() -> None:
    tensor = npconv.tensor([[1.0, 2.0]])
    np.testing.assert_array_equal(np.asarray(tensor), [[1.0, 2.0]])
    assert np.asarray(tensor, dtype=np.float64).dtype == np.float64
    assert float(npconv.tensor(2.5)) == 2.5 and int(npconv.tensor(3)) == 3


# --------------------------------------------------------------------- data, grad, requires_grad
def test_data_get_and_set() -> None:
    ours = npconv.tensor([1.0, 2.0], requires_grad=True)
    theirs = torch.tensor([1.0, 2.0], requires_grad=True)
    assert not ours.data.requires_grad and not theirs.data.requires_grad
    ours.data.mul_(2)  # in place on .data changes the values without autograd
    theirs.data.mul_(2)
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy())
    ours.data = npconv.tensor([5.0, 6.0])
    theirs.data = torch.tensor([5.0, 6.0])
    assert ours.requires_grad and ours.is_leaf
    (ours * ours).sum().backward()
    (theirs * theirs).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


def test_requires_grad_flag() -> None:
    tensor = npconv.zeros(2)
    assert not tensor.requires_grad
    assert tensor.requires_grad_() is tensor and tensor.requires_grad
    tensor.requires_grad_(False)
    assert not tensor.requires_grad
    tensor.requires_grad = True
    assert tensor.requires_grad
    with pytest.raises(RuntimeError, match="only Tensors of floating point and complex dtype can require gradients"):
        npconv.zeros(2, dtype=npconv.int64).requires_grad_()
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        torch.zeros(2, dtype=torch.int64).requires_grad_()
    assert npconv.tensor([1.0], requires_grad=True).requires_grad


def test_detach_shares_memory_and_clone_copies() -> None:
    tensor = npconv.tensor([1.0, 2.0], requires_grad=True)
    detached = tensor.detach()
    assert not detached.requires_grad and detached.grad_fn is None
    assert np.shares_memory(detached.numpy(), tensor.detach().numpy())
    cloned = tensor.clone()
    assert cloned.requires_grad and cloned.grad_fn is not None
    assert not np.shares_memory(cloned.detach().numpy(), tensor.detach().numpy())
    (cloned * 3).sum().backward()
    np.testing.assert_array_equal(tensor.grad.numpy(), [3.0, 3.0])


def test_contiguous() -> None:
    tensor = npconv.arange(6).reshape(2, 3)
    assert tensor.is_contiguous() and tensor.contiguous() is tensor
    transposed = tensor.t()
    assert not transposed.is_contiguous()
    made = transposed.contiguous()
    assert made.is_contiguous()
    _same(made, torch.arange(6).reshape(2, 3).t().contiguous())


# --------------------------------------------------------------------- in place
def test_in_place_initialisers() -> None:
    tensor = npconv.ones(2, 3)
    assert tensor.zero_() is tensor and not tensor.numpy().any()
    assert tensor.fill_(2.5) is tensor
    np.testing.assert_array_equal(tensor.numpy(), np.full((2, 3), 2.5, np.float32))
    tensor.copy_(npconv.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(tensor.numpy(), [[1, 2, 3], [1, 2, 3]])
    tensor.copy_(np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(tensor.numpy(), np.arange(6).reshape(2, 3))
    assert tensor.dtype == npconv.float32
    tensor.uniform_(-2, -1)
    assert tensor.dtype == npconv.float32 and (tensor.numpy() >= -2).all() and (tensor.numpy() < -1).all()
    big = npconv.zeros(20000, dtype=npconv.float64).normal_(3.0, 0.5)
    assert big.dtype == npconv.float64
    assert abs(big.numpy().mean() - 3.0) < 0.02 and abs(big.numpy().std() - 0.5) < 0.02


def test_copy_of_wrong_shape_raises() -> None:
    with pytest.raises(RuntimeError):
        npconv.zeros(2, 3).copy_(npconv.zeros(4))
    with pytest.raises(RuntimeError):
        torch.zeros(2, 3).copy_(torch.zeros(4))


def test_in_place_on_leaf_requiring_grad_raises_like_torch() -> None:
    ours, theirs = npconv.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    for tensor in (ours, theirs):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
            tensor.fill_(1.0)
    with npconv.no_grad():
        ours.fill_(1.0).uniform_()
    with npconv.no_grad():
        ours.zero_()
    assert not ours.detach().numpy().any()


# --------------------------------------------------------------------- seeding
@pytest.mark.parametrize(
    "draw",
    [
        lambda: npconv.rand(5),
        lambda: npconv.randn(2, 3),
        lambda: npconv.empty(4).uniform_(-1, 1),
        lambda: npconv.empty(4).normal_(0, 2),
        lambda: npconv.rand(3, dtype=npconv.float64),
        lambda: npconv.randn_like(npconv.zeros(3)),
    ],
)
def test_manual_seed_makes_random_functions_reproducible(draw: object) -> None:
    npconv.manual_seed(123)
    first = draw().numpy().copy()
    npconv.manual_seed(123)
    second = draw().numpy().copy()
    np.testing.assert_array_equal(first, second)
    npconv.manual_seed(124)
    assert not np.array_equal(first, draw().numpy())


def test_generator_argument_is_reproducible() -> None:
    first = npconv.rand(4, generator=npconv.Generator().manual_seed(7))
    second = npconv.rand(4, generator=npconv.Generator().manual_seed(7))
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    npconv.manual_seed(5)
    state = npconv.get_rng_state()
    a = npconv.randn(3).numpy().copy()
    npconv.set_rng_state(state)
    np.testing.assert_array_equal(a, npconv.randn(3).numpy())
    assert npconv.initial_seed() == 5


# --------------------------------------------------------------------- repr
REPR_VALUES = [
    ([1.0, 2.0, 3.0], None),
    ([1.5, -2.25, 3.125], None),
    ([[1, 2], [3, 4]], None),
    (3.5, None),
    (2.0, None),
    (7, None),
    ([True, False], None),
    ([1.0, 2.5], "float64"),
    ([1, 2], "int32"),
    ([0.5, 1.0], "float16"),
    ([1e-5, 1.0], None),
    ([123456.0, 0.5], None),
    ([1e10, 1.0], None),
    ([[0.1234, -5.5], [100.25, 3.0]], None),
    ([[[1.0, 2.0]], [[3.0, 4.0]]], None),
    ([], None),
    ([float("nan"), 1.0, float("inf")], None),
    ([-0.0, 0.0], None),
    (list(range(2000)), None),
    ([[0.5] * 3] * 1500, None),
    ([1.0, 2000.0], None),
    ([1.0, 1e9], None),
    ([-1, 100, 7], None),
    ([1 + 2j, -0.5 - 1j], None),
    ([1 + 2j, 3 - 4j], "complex128"),
    (1.5 - 2j, None),
    (list(np.linspace(-3, 3, 40)), None),
    (list(np.linspace(-3, 3, 40)), "float64"),
    (np.arange(2400.0).reshape(2, 30, 40).tolist(), None),
    (np.arange(24).reshape(2, 3, 4).tolist(), None),
    ([], "int64"),
    ([], "float64"),
    ([[0.001, 0.1]], None),
    ([0.0, 0.0], None),
]


@pytest.mark.parametrize(("data", "dtype"), REPR_VALUES, ids=[str(i) for i in range(len(REPR_VALUES))])
def test_repr_matches_torch(data: object, dtype: str | None) -> None:
    ours = npconv.tensor(data, dtype=None if dtype is None else getattr(npconv, dtype))
    theirs = torch.tensor(data, dtype=None if dtype is None else getattr(torch, dtype))
    assert repr(ours) == repr(theirs).replace("torch.", "npconv.")


def test_repr_of_tensor_requiring_grad() -> None:
    assert repr(npconv.tensor([1.0, 2.0], requires_grad=True)) == repr(torch.tensor([1.0, 2.0], requires_grad=True))
    assert repr(npconv.zeros(2, 0)) == repr(torch.zeros(2, 0))
    long = np.linspace(-1, 1, 15)
    assert repr(npconv.tensor(long, requires_grad=True)) == repr(torch.tensor(long, requires_grad=True)).replace(
        "torch.", "npconv."
    )
    assert repr(npconv.tensor(2.5, dtype=npconv.float64, requires_grad=True)) == repr(
        torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    ).replace("torch.", "npconv.")


# --------------------------------------------------------------------- type promotion
PROMOTION_DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "bool", "complex64"]
OPERATORS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b, "pow": lambda a, b: a**b,
}


def _outcome(function: object, *args: object) -> str:
    try:
        return _dtype_name(function(*args).dtype)
    except RuntimeError as error:
        return f"RuntimeError: {str(error)[:40]}"


@pytest.mark.parametrize("left", PROMOTION_DTYPES)
def test_tensor_tensor_promotion_matches_torch(left: str) -> None:
    for right in PROMOTION_DTYPES:
        for name, function in OPERATORS.items():
            if name == "pow" and left == right == "bool":
                continue  # torch has no bool ** bool kernel
            ours = _outcome(function, npconv.ones(2, dtype=getattr(npconv, left)), npconv.ones(2, dtype=getattr(npconv, right)))
            theirs = _outcome(function, torch.ones(2, dtype=getattr(torch, left)), torch.ones(2, dtype=getattr(torch, right)))
            assert ours.split(":")[0] == theirs.split(":")[0], (left, right, name, ours, theirs)


@pytest.mark.parametrize("dtype", PROMOTION_DTYPES)
@pytest.mark.parametrize("scalar", [2, 2.5, True, 1j, np.float64(2.0), np.int64(2), np.float32(2.0)], ids=repr)
def test_tensor_scalar_promotion_matches_torch(dtype: str, scalar: object) -> None:
    if dtype == "float16" and isinstance(scalar, complex):
        return  # torch makes complex32, which npconv does not store
    for name, function in OPERATORS.items():
        for swap in (False, True):
            if name == "pow" and swap and dtype == "bool" and scalar is True:
                continue
            def call(tensor: object, function: object = function, swap: bool = swap) -> object:
                return function(scalar, tensor) if swap else function(tensor, scalar)

            ours = _outcome(call, npconv.ones(2, dtype=getattr(npconv, dtype)))
            theirs = _outcome(call, torch.ones(2, dtype=getattr(torch, dtype)))
            assert ours.split(":")[0] == theirs.split(":")[0], (dtype, scalar, name, swap, ours, theirs)


def test_zero_dim_tensors_only_raise_the_category() -> None:
    for dimensioned, scalar in (("float32", "float64"), ("int32", "int64"), ("int64", "float64"),
                                ("float64", "complex64"), ("bool", "int8"), ("float32", "complex128")):
        ours = npconv.ones(2, dtype=getattr(npconv, dimensioned)) * npconv.tensor(2, dtype=getattr(npconv, scalar))
        theirs = torch.ones(2, dtype=getattr(torch, dimensioned)) * torch.tensor(2, dtype=getattr(torch, scalar))
        assert _dtype_name(ours.dtype) == _dtype_name(theirs.dtype), (dimensioned, scalar)


def test_gradient_flows_through_a_promoting_cast() -> None:
    weight = npconv.tensor(3.0, dtype=npconv.float64, requires_grad=True)
    out = npconv.ones(2) * weight
    assert out.dtype == npconv.float32
    out.sum().backward()
    assert weight.grad.dtype == npconv.float64 and weight.grad.item() == 2.0


MIXED_CALLS = {
    "where with a number": lambda lib, x: lib.where(x > 0, x, 0.0),
    "where with two numbers": lambda lib, x: lib.where(x > 0, 1.0, 0),
    "where with an integer tensor": lambda lib, x: lib.where(x > 0, x, lib.tensor([1, 2])),
    "maximum of float and integer": lambda lib, x: lib.maximum(x, lib.tensor([1, 2])),
    "minimum of integer and float": lambda lib, x: lib.minimum(lib.tensor([1, 2]), x),
    "clamp of integers by a float": lambda lib, x: lib.tensor([-1, 2]).clamp(0.5),
    "clamp of integers by integers": lambda lib, x: lib.tensor([-1, 2]).clamp(0, 1),
    "sum over no dims is over all": lambda lib, x: x.sum(()),
    "mean over no dims keepdim": lambda lib, x: x.mean((), keepdim=True),
}


@pytest.mark.parametrize("name", list(MIXED_CALLS))
def test_mixed_dtype_functions_match_torch(name: str) -> None:
    values = [[1.5, -2.0], [3.0, 0.5]]
    ours = MIXED_CALLS[name](npconv, npconv.tensor(values))
    theirs = MIXED_CALLS[name](torch, torch.tensor(values))
    _same(ours, theirs)


@pytest.mark.parametrize(
    ("dtype", "method", "operand"),
    [("int64", "add_", 1.5), ("int64", "div_", 2), ("bool", "mul_", 2), ("float32", "add_", 1j), ("int32", "sub_", 0.5)],
)
def test_in_place_result_that_cannot_be_stored_raises_like_torch(dtype: str, method: str, operand: object) -> None:
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type") as ours:
        getattr(npconv.ones(2, dtype=getattr(npconv, dtype)), method)(operand)
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type") as theirs:
        getattr(torch.ones(2, dtype=getattr(torch, dtype)), method)(operand)
    assert str(ours.value) == str(theirs.value)


def test_in_place_arithmetic_that_fits_matches_torch() -> None:
    for dtype, operand in (("int64", 3), ("float32", 2.5), ("float32", torch.tensor([1.0, 2.0], dtype=torch.float64))):
        ours, theirs = npconv.ones(2, dtype=getattr(npconv, dtype)), torch.ones(2, dtype=getattr(torch, dtype))
        other = npconv.tensor(operand.numpy()) if isinstance(operand, torch.Tensor) else operand
        ours += other
        theirs += operand
        ours.mul_(other)
        theirs.mul_(operand)
        _same(ours, theirs)


@pytest.mark.parametrize(
    "bounds",
    [{"min": 0.0}, {"min": -0.0}, {"max": 0.0}, {"max": -0.0}, {"min": -0.5, "max": 0.5}, {"min": 0.0, "max": 1.0},
     {"min": -1.0, "max": -0.0}, {"min": 0.5, "max": -0.5}, {"min": float("nan")}, {"max": float("inf")}],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clamp_keeps_torchs_values_and_signed_zeros(bounds: dict, dtype: str) -> None:
    """clamp, clamp_ and the gradient of clamp on NaN, ±inf, ±0 and ordinary values, bit for bit (signbits
    included) against torch, one bound or two, in either order."""
    values = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, 1.0, -1.0, 0.25, -0.75, 3.0] * 20, dtype=dtype)

    def bits(array: np.ndarray) -> tuple:
        return np.signbit(array).tolist(), np.where(np.isnan(array), 0, array).tolist(), np.isnan(array).tolist()

    ours = npconv.tensor(values, requires_grad=True)
    theirs = torch.tensor(values, requires_grad=True)
    ours_out, their_out = ours.clamp(**bounds), theirs.clamp(**bounds)
    assert bits(ours_out.detach().numpy()) == bits(their_out.detach().numpy())
    ours_out.backward(npconv.ones(values.shape, dtype=getattr(npconv, dtype)))
    their_out.backward(torch.ones(values.shape, dtype=getattr(torch, dtype)))
    assert bits(ours.grad.numpy()) == bits(theirs.grad.numpy())
    in_place, their_in_place = npconv.tensor(values), torch.tensor(values)
    in_place.clamp_(**bounds)
    their_in_place.clamp_(**bounds)
    assert bits(in_place.numpy()) == bits(their_in_place.numpy())


def test_clamp_in_place_refuses_what_torch_refuses() -> None:
    for call in (lambda lib: lib.arange(5).clamp_(0.5), lambda lib: lib.arange(5.0).clamp_()):
        with pytest.raises(RuntimeError) as theirs:
            call(torch)
        with pytest.raises(RuntimeError) as ours:
            call(npconv)
        assert str(ours.value).split()[:4] == str(theirs.value).split()[:4]


def test_negating_a_bool_tensor_raises_like_torch() -> None:
    for library in (npconv, torch):
        with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor is not supported"):
            -library.tensor([True, False])


def test_rounding_keeps_uniform_samples_in_range() -> None:
    """Draws rounded to float16 must not reach 1.0 for rand (torch's [0, 1)) nor pass uniform_'s bounds."""
    npconv.manual_seed(1)
    assert npconv.rand(200000, dtype=npconv.float16).numpy().max() < 1.0
    assert npconv.rand_like(npconv.zeros(200000, dtype=npconv.float16)).numpy().max() < 1.0
    values = npconv.zeros(200000, dtype=npconv.float16).uniform_(-0.7, 0.7).numpy()
    assert values.min() >= -0.7 and values.max() <= 0.7


def _random_repr_arrays(count: int, seed: int = 0) -> list[tuple[np.ndarray, bool]]:
    rng = np.random.default_rng(seed)
    arrays = []
    for index in range(count):
        ndim = int(rng.integers(0, 4))
        shape = tuple(int(v) for v in rng.integers(1, 6 if ndim > 1 else 40, ndim))
        values = rng.standard_normal(shape) * 10.0 ** rng.integers(-6, 9)
        kind = index % 8
        if kind == 0:
            array = values
        elif kind == 1:
            array = np.clip(values, -6e4, 6e4).astype(np.float16)
        elif kind == 2:
            array = np.clip(np.round(values), -2e9, 2e9).astype(np.int32)
        elif kind == 3:
            array = values > 0
        elif kind == 4:
            array = (values + 1j * rng.standard_normal(shape)).astype(np.complex64)
        elif kind == 5:
            array = np.round(values).astype(np.float32)
        else:
            array = values.astype(np.float32)
            if array.size > 2 and kind == 6:
                array.flat[:3] = (np.nan, -np.inf, 0.0)
        arrays.append((array, array.dtype.kind in "fc" and index % 5 == 0))
    return arrays


def test_repr_of_random_tensors_matches_torch() -> None:
    for array, requires_grad in _random_repr_arrays(300):
        ours = repr(npconv.tensor(array, requires_grad=requires_grad))
        theirs = repr(torch.tensor(array, requires_grad=requires_grad)).replace("torch.", "npconv.")
        assert ours == theirs, (array.dtype, array.shape)
