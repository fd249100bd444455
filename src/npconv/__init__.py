"""npconv: PyTorch's convolution subsystem on NumPy alone.

``import npconv as torch`` gives torch's tensor creation, dtypes, autograd and ``nn`` for convolutional
networks, computed with NumPy.
"""

from . import dtypes as _dtypes_module
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .creation import (
    arange,
    as_tensor,
    cat,
    concat,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    is_tensor,
    linspace,
    maximum,
    minimum,
    numel,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    stack,
    tensor,
    where,
    zeros,
    zeros_like,
)
from .dtypes import (
    bool,
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    dtype,
    float,
    float16,
    float32,
    float64,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from .io import from_dlpack, from_torch, load, save
from .random import Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .tensor import Size, Tensor

__version__ = "0.1.0"

_ = _dtypes_module

from . import nn, optim, utils  # noqa: E402
from .explain import summary  # noqa: E402
