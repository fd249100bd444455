"""``npconv viz KIND --out DIR``: pictures of what a convolution does.

Kinds:
    sliding       the kernel moving over a padded input (1-d or 2-d): numbered PNG frames and an animated GIF
    groups        which input channels feed which output channels of a grouped convolution
    transposed    a transposed convolution as scatter-add and as the transpose of the conv matrix
    checkerboard  ConvTranspose2d kernel 3 stride 2 vs kernel 4 stride 2, next to resize-then-conv
    kernels       a model's first-layer kernels as a grid
    features      the feature maps of that layer for an image

Needs matplotlib and Pillow (the ``pictures`` extra: ``pip install 'npconv[pictures]'``); they are imported
only when a picture is drawn.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import arrays

KINDS = ("sliding", "groups", "transposed", "checkerboard", "kernels", "features")
MISSING_MESSAGE = (
    "npconv viz needs matplotlib and Pillow, which are not installed; install the 'pictures' extra: "
    "pip install 'npconv[pictures]'"
)
MAX_FRAMES = 400
DPI = 80

# Sliding-window frames are drawn as arrays: every cell is CELL×CELL pixels with a 1-pixel grid line.
CELL = 20
MARGIN = 10
TITLE_HEIGHT = 22
GAP = 2 * CELL
GRID_LINE = (90, 90, 90)
PADDING_COLOR = (215, 215, 215)
INPUT_COLOR = (165, 205, 240)
TAP_COLOR = (30, 80, 200)
OUTPUT_COLOR = (240, 240, 240)
DONE_COLOR = (170, 220, 170)
CURRENT_COLOR = (240, 140, 30)


def _import_pictures() -> tuple[Any, Any]:
    """matplotlib.pyplot (on the Agg backend) and PIL.Image; ImportError when the extra is missing."""
    import matplotlib
    from PIL import Image

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, Image


def _ints(text: str | None, name: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--{name} must be integers separated by commas, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"--{name} is empty")
    return values


def _per_dim(values: tuple[int, ...] | None, default: int, ndim: int, name: str) -> tuple[int, ...]:
    values = (default,) if values is None else values
    if len(values) == 1:
        return values * ndim
    if len(values) != ndim:
        raise ValueError(f"--{name} needs 1 or {ndim} values for a {ndim}-d input, got {list(values)}")
    return values


# --------------------------------------------------------------------------------------------- sliding
def sliding_layout(padded: Sequence[int], out: Sequence[int]) -> dict[str, tuple[int, int]]:
    """Pixel origins (x, y) of the padded-input grid and of the output grid, and the image size (w, h);
    cell (row, col) of a grid spans [x + col·CELL, x + (col+1)·CELL) × [y + row·CELL, y + (row+1)·CELL)."""
    rows_in, cols_in = (1, padded[0]) if len(padded) == 1 else padded
    rows_out, cols_out = (1, out[0]) if len(out) == 1 else out
    top = MARGIN + TITLE_HEIGHT
    input_origin = (MARGIN, top)
    output_origin = (MARGIN + cols_in * CELL + GAP, top)
    width = output_origin[0] + cols_out * CELL + MARGIN + 1
    height = top + max(rows_in, rows_out) * CELL + MARGIN + 1
    return {"input": input_origin, "output": output_origin, "size": (width, height)}


def _grid_pixels(colors: np.ndarray) -> np.ndarray:
    """(rows, cols, 3) cell colours → pixels with grid lines."""
    pixels = np.repeat(np.repeat(colors, CELL, axis=0), CELL, axis=1)
    rows, cols = colors.shape[:2]
    pixels = np.pad(pixels, ((0, 1), (0, 1), (0, 0)))
    pixels[::CELL, :] = GRID_LINE
    pixels[:, ::CELL] = GRID_LINE
    return pixels[: rows * CELL + 1, : cols * CELL + 1]


def sliding_frames(
    size: Sequence[int], kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int]
) -> list[Any]:
    """One PIL image per output position (row-major): the padded input with the kernel's taps in dark
    blue, the output with finished cells green and the current one orange, and a numbered title."""
    _, image_module = _import_pictures()
    from PIL import ImageDraw

    out, taps = arrays.sliding_positions(size, kernel, stride, padding, dilation)
    count = int(np.prod(out))
    if count > MAX_FRAMES:
        raise ValueError(f"that makes {count} frames; use a smaller input (at most {MAX_FRAMES} output positions)")
    ndim = len(size)
    padded = [n + 2 * p for n, p in zip(size, padding)]
    layout = sliding_layout(padded, out)
    base_in = np.empty((*([1] if ndim == 1 else []), *padded, 3), dtype=np.uint8)
    base_in[...] = PADDING_COLOR
    inner = tuple(slice(p, p + n) for p, n in zip(padding, size))
    base_in[(slice(None),) * (ndim == 1) + inner] = INPUT_COLOR
    out_grid_shape = (1, out[0]) if ndim == 1 else tuple(out)
    flat_taps = taps.reshape(count, -1, ndim)
    frames = []
    for frame_index, output_index in enumerate(np.ndindex(*out)):
        cells_in = base_in.copy()
        tap_rows = np.zeros(flat_taps.shape[1], dtype=int) if ndim == 1 else flat_taps[frame_index, :, 0]
        cells_in[tap_rows, flat_taps[frame_index, :, -1]] = TAP_COLOR
        cells_out = np.empty((*out_grid_shape, 3), dtype=np.uint8)
        cells_out[...] = OUTPUT_COLOR
        cells_out.reshape(-1, 3)[:frame_index] = DONE_COLOR
        cells_out.reshape(-1, 3)[frame_index] = CURRENT_COLOR
        canvas = np.full((layout["size"][1], layout["size"][0], 3), 255, dtype=np.uint8)
        for origin, cells in ((layout["input"], cells_in), (layout["output"], cells_out)):
            pixels = _grid_pixels(cells)
            canvas[origin[1] : origin[1] + pixels.shape[0], origin[0] : origin[0] + pixels.shape[1]] = pixels
        image = image_module.fromarray(canvas)
        position = ", ".join(str(i) for i in output_index)
        ImageDraw.Draw(image).text(
            (MARGIN, MARGIN), f"frame {frame_index + 1}/{count}: output ({position})", fill=(0, 0, 0)
        )
        frames.append(image)
    return frames


def draw_sliding(out_dir: Path, args: argparse.Namespace) -> list[Path]:
    size = args.input or (5, 5)
    ndim = len(size)
    if ndim not in (1, 2):
        raise ValueError(f"sliding draws 1-d or 2-d inputs, but --input has {ndim} values")
    kernel = _per_dim(args.kernel, 3, ndim, "kernel")
    stride = _per_dim(args.stride, 1, ndim, "stride")
    padding = _per_dim(args.padding, 1, ndim, "padding")
    dilation = _per_dim(args.dilation, 1, ndim, "dilation")
    if any(v <= 0 for v in (*size, *kernel, *stride, *dilation)) or any(p < 0 for p in padding):
        raise ValueError("input, kernel, stride and dilation must be positive and padding non-negative")
    frames = sliding_frames(size, kernel, stride, padding, dilation)
    written = []
    for index, frame in enumerate(frames):
        path = out_dir / f"sliding_{index:03d}.png"
        frame.save(path)
        written.append(path)
    gif = out_dir / "sliding.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=args.duration, loop=0)
    return [gif, *written]


# --------------------------------------------------------------------------------------------- matplotlib pictures
def _save(figure: Any, path: Path) -> Path:
    figure.savefig(path, dpi=DPI)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path


def draw_groups(out_dir: Path, args: argparse.Namespace) -> list[Path]:
    plt, _ = _import_pictures()
    in_channels, out_channels, groups = args.in_channels, args.out_channels, args.groups
    connected = arrays.group_connectivity(in_channels, out_channels, groups)
    figure, (graph, matrix) = plt.subplots(1, 2, figsize=(8, 4))
    colors = plt.get_cmap("tab10")
    out_index, in_index = np.nonzero(connected)
    group_of_output = out_index // (out_channels // groups)
    ys_in, ys_out = np.linspace(1, 0, in_channels), np.linspace(1, 0, out_channels)
    for o, i, g in zip(out_index, in_index, group_of_output):
        graph.plot([0, 1], [ys_in[i], ys_out[o]], color=colors(g % 10), alpha=0.7, linewidth=1)
    graph.scatter(np.zeros(in_channels), ys_in, s=60, color="black", zorder=3)
    graph.scatter(np.ones(out_channels), ys_out, s=60, color="black", zorder=3)
    graph.set_xticks([0, 1], ["input channels", "output channels"])
    graph.set_yticks([])
    graph.set_title(f"groups={groups}: {in_channels // groups} inputs feed each output")
    palette = np.array([colors(g % 10)[:3] for g in range(groups)])
    row_colors = palette[np.arange(out_channels) // (out_channels // groups)]
    matrix.imshow(np.where(connected[:, :, None], row_colors[:, None, :], 1.0), interpolation="nearest")
    matrix.set_xlabel("input channel")
    matrix.set_ylabel("output channel")
    matrix.set_title(f"weight ({out_channels}, {in_channels // groups}, kH, kW) as a block diagonal")
    figure.tight_layout()
    return [_save(figure, out_dir / "groups.png")]


def _annotated(axis: Any, values: np.ndarray, title: str) -> None:
    axis.imshow(values, cmap="Blues", interpolation="nearest")
    if values.size <= 400:
        rows, cols = np.nonzero(values)
        for row, col in zip(rows, cols):
            axis.text(col, row, f"{values[row, col]:g}", ha="center", va="center", fontsize=7)
    axis.set_title(title, fontsize=9)
    axis.set_xticks([])
    axis.set_yticks([])


def draw_transposed(out_dir: Path, args: argparse.Namespace) -> list[Path]:
    plt, _ = _import_pictures()
    length = (args.input or (4,))[0]
    kernel_size = (args.kernel or (3,))[0]
    stride = (args.stride or (2,))[0]
    padding = (args.padding or (0,))[0]
    kernel = np.arange(1, kernel_size + 1, dtype=np.float64)
    conv_matrix, transposed_matrix, out_length = arrays.conv_matrices(length, kernel, stride, padding)
    values = np.arange(1, length + 1, dtype=np.float64)
    rows = arrays.scatter_rows(values, kernel, stride, padding)
    stacked = np.vstack([rows, rows.sum(axis=0, keepdims=True)])
    figure, axes = plt.subplots(1, 3, figsize=(11, 4), gridspec_kw={"width_ratios": [out_length, length, out_length]})
    _annotated(
        axes[0], conv_matrix, f"conv (k={kernel_size}, s={stride}, p={padding}) as a matrix C: {out_length} → {length}"
    )
    _annotated(axes[1], transposed_matrix, f"transposed conv matrix = Cᵀ: {length} → {out_length}")
    _annotated(axes[2], stacked, "scatter-add: row i = x[i]·kernel at i·stride − p; last row = sum")
    axes[2].axhline(len(rows) - 0.5, color="black")
    figure.suptitle(f"x = {values.astype(int).tolist()}, kernel = {kernel.astype(int).tolist()}", fontsize=9)
    figure.tight_layout()
    return [_save(figure, out_dir / "transposed.png")]


def draw_checkerboard(out_dir: Path, args: argparse.Namespace) -> list[Path]:
    plt, _ = _import_pictures()
    results = arrays.checkerboard_arrays(args.size)
    titles = {
        "k3s2": "ConvTranspose2d k=3, s=2: uneven overlap",
        "k4s2": "ConvTranspose2d k=4, s=2: even overlap",
        "resize_conv": "nearest 2× resize, then 3×3 conv",
    }
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    for axis, (key, values) in zip(axes, results.items()):
        image = axis.imshow(values, cmap="magma", interpolation="nearest")
        figure.colorbar(image, ax=axis, fraction=0.046)
        inner = values[2:-2, 2:-2]
        axis.set_title(f"{titles[key]}\ninside: {inner.min():g} … {inner.max():g}", fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle("all-ones input and weights: the output counts how many taps reach each pixel", fontsize=9)
    figure.tight_layout()
    return [_save(figure, out_dir / "checkerboard.png")]


def first_layer_weights(checkpoint: str | None) -> tuple[np.ndarray, str]:
    """The first 4-d weight of a checkpoint (a state dict or a Module saved with ``npconv.save`` or
    ``torch.save``), else the built-in :func:`arrays.filter_bank`."""
    if checkpoint is None:
        return arrays.filter_bank(), "built-in filter bank (Sobel, Laplacian, Gaussian, Gabor)"
    from .. import io

    state = io.load(checkpoint)
    if hasattr(state, "state_dict"):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise ValueError(f"{checkpoint} holds a {type(state).__name__}, not a state dict")
    for name, value in state.items():
        array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
        if array.ndim == 4:
            return array.astype(np.float64), f"{checkpoint}: {name}"
    raise ValueError(f"{checkpoint} has no 4-d (conv2d) weight")


def draw_kernels(out_dir: Path, args: argparse.Namespace) -> list[Path]:
    plt, _ = _import_pictures()
    weights, source = first_layer_weights(args.checkpoint)
    shown = weights[:64]
    columns = int(np.ceil(np.sqrt(len(shown))))
    rows = int(np.ceil(len(shown) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(max(1.2 * columns, 4), 1.2 * rows + 0.6), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    low = shown.min(axis=(1, 2, 3), keepdims=True)
    span = np.maximum(shown.max(axis=(1, 2, 3), keepdims=True) - low, 1e-12)
    scaled = (shown - low) / span
    for axis, kernel in zip(axes.flat, scaled):
        picture = kernel.transpose(1, 2, 0) if kernel.shape[0] == 3 else kernel[0]
        axis.imshow(picture, cmap=None if kernel.shape[0] == 3 else "gray", interpolation="nearest")
    figure.suptitle(f"{len(shown)} first-layer kernels\n{source}", fontsize=7)
    return [_save(figure, out_dir / "kernels.png")]


def _load_image(path: str | None) -> tuple[np.ndarray, str]:
    if path is None:
        return arrays.sample_image()
    from PIL import Image

    with Image.open(path) as image:
        picture = image.convert("RGB")
        picture.thumbnail((128, 128))
        return np.asarray(picture, dtype=np.float64) / 255.0, path


def draw_features(out_dir: Path, args: argparse.Namespace) -> list[Path]:
    plt, _ = _import_pictures()
    import npconv
    import npconv.nn.functional as F

    weights, source = first_layer_weights(args.checkpoint)
    image, image_name = _load_image(args.image)
    channels_first = image.transpose(2, 0, 1)
    if weights.shape[1] == 1:
        channels_first = channels_first.mean(axis=0, keepdims=True)
    elif weights.shape[1] != 3:
        raise ValueError(f"the first layer takes {weights.shape[1]} channels; an image has 3 (or 1 in grey)")
    padding = tuple(k // 2 for k in weights.shape[2:])
    maps = F.conv2d(npconv.from_numpy(channels_first[None]), npconv.from_numpy(weights), padding=padding).numpy()[0]
    shown = maps[:16]
    columns = 4
    rows = int(np.ceil((len(shown) + 1) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.0 * rows + 0.4), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    axes.flat[0].imshow(image)
    axes.flat[0].set_title("input", fontsize=8)
    for index, (axis, feature) in enumerate(zip(axes.flat[1:], shown)):
        axis.imshow(feature, cmap="gray")
        axis.set_title(f"channel {index}", fontsize=8)
    figure.suptitle(f"feature maps of {source} for {image_name}", fontsize=8)
    figure.tight_layout()
    return [_save(figure, out_dir / "features.png")]


DRAWERS = {
    "sliding": draw_sliding,
    "groups": draw_groups,
    "transposed": draw_transposed,
    "checkerboard": draw_checkerboard,
    "kernels": draw_kernels,
    "features": draw_features,
}


# --------------------------------------------------------------------------------------------- command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, metavar="KIND", help="one of: " + ", ".join(KINDS))
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory for the pictures (created)")
    parser.add_argument(
        "--input",
        type=lambda t: _ints(t, "input"),
        help="sliding: input size, 1 or 2 values (default 5,5); transposed: its input length (default 4)",
    )
    parser.add_argument("--kernel", type=lambda t: _ints(t, "kernel"), help="kernel size (default 3)")
    parser.add_argument("--stride", type=lambda t: _ints(t, "stride"), help="stride (default 1; transposed: 2)")
    parser.add_argument(
        "--padding", type=lambda t: _ints(t, "padding"), help="padding per side (default 1; transposed: 0)"
    )
    parser.add_argument("--dilation", type=lambda t: _ints(t, "dilation"), help="dilation (default 1)")
    parser.add_argument("--duration", type=int, default=600, help="sliding: milliseconds per GIF frame (default 600)")
    parser.add_argument("--in-channels", type=int, default=6, help="groups: input channels (default 6)")
    parser.add_argument("--out-channels", type=int, default=9, help="groups: output channels (default 9)")
    parser.add_argument("--groups", type=int, default=3, help="groups: number of groups (default 3)")
    parser.add_argument("--size", type=int, default=8, help="checkerboard: input size (default 8)")
    parser.add_argument("--checkpoint", help="kernels/features: a state dict file; default a built-in filter bank")
    parser.add_argument("--image", help="features: an image file; default a sample photograph")


def run(args: argparse.Namespace) -> int:
    try:
        _import_pictures()
    except ImportError:
        print(f"npconv viz: error: {MISSING_MESSAGE}", file=sys.stderr)
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        written = DRAWERS[args.kind](args.out, args)
    except (ValueError, RuntimeError, OSError) as error:
        print(f"npconv viz {args.kind}: error: {error}", file=sys.stderr)
        return 2
    for path in written[:3]:
        print(path)
    if len(written) > 3:
        print(f"... and {len(written) - 3} more in {args.out}")
    return 0
