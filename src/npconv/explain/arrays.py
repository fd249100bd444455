"""The numbers behind ``npconv viz``'s pictures, computed with npconv itself and free of any plotting
library: sliding-window positions, group connectivity, conv and transposed-conv matrices, the
checkerboard of a transposed convolution, a small filter bank and a sample image."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..conv import arguments


def sliding_positions(
    size: Sequence[int], kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int]
) -> tuple[tuple[int, ...], np.ndarray]:
    """Where the kernel's taps land in the padded input for every output position.

    Returns the output size and an int array of shape (*output, *kernel, ndim): the padded-input
    coordinate of tap ``kernel_index`` for output ``output_index`` is ``output_index·stride +
    kernel_index·dilation``."""
    pairs = [(p, p) for p in padding]
    out = arguments.conv_output_shape(size, kernel, stride, pairs, dilation)
    if any(n < 1 for n in out):
        raise ValueError(
            f"the kernel does not fit: input {list(size)} with padding {list(padding)} is smaller than the dilated "
            f"kernel {[d * (k - 1) + 1 for k, d in zip(kernel, dilation)]}"
        )
    ndim = len(size)
    out_grid = np.stack(np.meshgrid(*[np.arange(n) for n in out], indexing="ij"), axis=-1)
    tap_grid = np.stack(np.meshgrid(*[np.arange(k) for k in kernel], indexing="ij"), axis=-1)
    out_part = out_grid.reshape(*out, *([1] * ndim), ndim) * np.asarray(stride)
    tap_part = tap_grid.reshape(*([1] * ndim), *kernel, ndim) * np.asarray(dilation)
    return tuple(out), out_part + tap_part


def group_connectivity(in_channels: int, out_channels: int, groups: int) -> np.ndarray:
    """(out_channels, in_channels) booleans: does input channel i feed output channel o? Computed by running
    a grouped 1×1 npconv convolution with all-ones weights on one-hot inputs."""
    import npconv
    import npconv.nn.functional as F

    if groups <= 0 or in_channels <= 0 or out_channels <= 0:
        raise ValueError(
            f"groups, in_channels and out_channels must be positive, but got groups={groups}, "
            f"in_channels={in_channels}, out_channels={out_channels}"
        )
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"in_channels={in_channels} and out_channels={out_channels} must both be divisible by groups={groups}"
        )
    one_hot = npconv.from_numpy(np.eye(in_channels).reshape(in_channels, in_channels, 1, 1))
    weight = npconv.ones(out_channels, in_channels // groups, 1, 1, dtype=npconv.float64)
    response = F.conv2d(one_hot, weight, groups=groups).numpy()[:, :, 0, 0]  # (input one-hot, output)
    return response.T != 0


def conv_matrices(
    length: int, kernel_values: Sequence[float], stride: int, padding: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """The matrices of a 1-d conv and of its transposed conv, each column the layer applied to a basis
    vector (computed with npconv's conv1d and conv_transpose1d).

    ``length`` is the transposed conv's input length n; the transposed output has length
    m = (n − 1)·stride − 2·padding + k. Returns (C, T, m) with C of shape (n, m) — the conv from m to n —
    and T of shape (m, n); T equals Cᵀ."""
    import npconv
    import npconv.nn.functional as F

    weight = np.asarray(kernel_values, dtype=np.float64).reshape(1, 1, -1)
    out_length = arguments.conv_transpose_output_shape(
        [length], [weight.shape[-1]], [stride], [(padding, padding)], [0], [1]
    )[0]
    if out_length < 1:
        raise ValueError(f"a transposed conv of length {length} with this kernel, stride and padding has no output")
    basis_m = npconv.from_numpy(np.eye(out_length).reshape(out_length, 1, out_length))
    basis_n = npconv.from_numpy(np.eye(length).reshape(length, 1, length))
    weight_tensor = npconv.from_numpy(weight)
    conv_matrix = F.conv1d(basis_m, weight_tensor, stride=stride, padding=padding).numpy()[:, 0, :].T
    transposed_matrix = F.conv_transpose1d(basis_n, weight_tensor, stride=stride, padding=padding).numpy()[:, 0, :].T
    return conv_matrix, transposed_matrix, out_length


def scatter_rows(values: Sequence[float], kernel_values: Sequence[float], stride: int, padding: int) -> np.ndarray:
    """Transposed conv as scatter-add: row i is input i times the kernel, written at i·stride − padding
    (cropped to the output); the rows sum to the transposed convolution."""
    values = np.asarray(values, dtype=np.float64)
    kernel = np.asarray(kernel_values, dtype=np.float64)
    full_length = (len(values) - 1) * stride + len(kernel)
    rows = np.zeros((len(values), full_length))
    starts = np.arange(len(values)) * stride
    columns = starts[:, None] + np.arange(len(kernel))[None, :]
    rows[np.arange(len(values))[:, None], columns] = values[:, None] * kernel[None, :]
    return rows[:, padding : full_length - padding]


def checkerboard_arrays(size: int = 8) -> dict[str, np.ndarray]:
    """Outputs for a constant (all-ones) input of ``size``×``size`` with all-ones weights, each of size 2·size:

    * ``"k3s2"``: ConvTranspose2d kernel 3, stride 2, padding 1, output_padding 1 — taps overlap
      unevenly, so the output alternates 1, 2, 4 (a checkerboard);
    * ``"k4s2"``: kernel 4, stride 2, padding 1 — kernel divisible by the stride, even overlap (4) inside;
    * ``"resize_conv"``: nearest 2× resize then a 3×3 convolution (padding 1) — flat inside (9).

    All three run npconv's functional convolutions."""
    import npconv
    import npconv.nn.functional as F

    ones = npconv.ones(1, 1, size, size, dtype=npconv.float64)
    uneven = F.conv_transpose2d(
        ones, npconv.ones(1, 1, 3, 3, dtype=npconv.float64), stride=2, padding=1, output_padding=1
    )
    even = F.conv_transpose2d(ones, npconv.ones(1, 1, 4, 4, dtype=npconv.float64), stride=2, padding=1)
    resized = np.repeat(np.repeat(np.ones((1, 1, size, size)), 2, axis=2), 2, axis=3)
    smooth = F.conv2d(npconv.from_numpy(resized), npconv.ones(1, 1, 3, 3, dtype=npconv.float64), padding=1)
    return {"k3s2": uneven.numpy()[0, 0], "k4s2": even.numpy()[0, 0], "resize_conv": smooth.numpy()[0, 0]}


def filter_bank(size: int = 5, in_channels: int = 3) -> np.ndarray:
    """A hand-made first layer of 8 classic filters, shape (8, in_channels, size, size): Sobel x and y,
    a Laplacian, a Gaussian blur and Gabor filters at 0°, 45°, 90° and 135° (the same kernel on every
    input channel, divided by the channel count)."""
    half = size // 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    gaussian = np.exp(-(x**2 + y**2) / (2 * (size / 4) ** 2))
    sobel_x = x * np.exp(-(x**2 + y**2) / (2 * (size / 3) ** 2))
    laplacian = (x**2 + y**2 - 2 * (size / 4) ** 2) * gaussian
    kernels = [sobel_x, sobel_x.T, laplacian - laplacian.mean(), gaussian / gaussian.sum()]
    for angle in (0, 45, 90, 135):
        theta = math.radians(angle)
        along = x * math.cos(theta) + y * math.sin(theta)
        kernels.append(gaussian * np.cos(2 * math.pi * along / (size / 1.5)))
    bank = np.stack([k / np.abs(k).max() for k in kernels])
    return np.repeat(bank[:, None], in_channels, axis=1) / in_channels


def procedural_image(size: int = 96) -> np.ndarray:
    """A synthetic RGB picture (size×size×3 in [0, 1]): a disc, stripes and a diagonal gradient, edges in
    every direction."""
    y, x = np.mgrid[0:size, 0:size] / size
    disc = ((x - 0.35) ** 2 + (y - 0.4) ** 2 < 0.05).astype(np.float64)
    stripes = (np.sin(2 * math.pi * 6 * (x + y)) > 0).astype(np.float64) * (x > 0.6)
    image = np.stack([0.2 + 0.6 * disc + 0.2 * x, 0.3 * stripes + 0.5 * y, 0.8 - 0.5 * disc * y], axis=-1)
    return np.clip(image, 0.0, 1.0)


def sample_image(max_side: int = 128) -> tuple[np.ndarray, str]:
    """The default picture for ``npconv viz features``: scikit-learn's ``china.jpg`` photograph (read with
    Pillow from the installed package's data, without importing scikit-learn), block-averaged to at most
    ``max_side`` pixels; :func:`procedural_image` when scikit-learn or Pillow is not installed.
    Returns (H×W×3 in [0, 1], name)."""
    spec = importlib.util.find_spec("sklearn")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(locations[0]) / "datasets" / "images" / "china.jpg" if locations else None
    try:
        from PIL import Image
    except ImportError:
        path = None
    if path is None or not path.is_file():
        return procedural_image(max_side), "procedural sample"
    with Image.open(path) as image:
        photo = np.asarray(image.convert("RGB"), dtype=np.float64)
    step = max(1, math.ceil(max(photo.shape[:2]) / max_side))
    height, width = photo.shape[0] // step, photo.shape[1] // step
    blocks = photo[: height * step, : width * step].reshape(height, step, width, step, 3)
    return blocks.mean(axis=(1, 3)) / 255.0, "scikit-learn china.jpg"
