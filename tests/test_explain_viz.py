"""``npconv viz``: files, sizes, frame counts, pixels of the sliding-window frames, and the numbers behind the
pictures against torch."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from PIL import Image

from npconv.cli import main
from npconv.explain import arrays, viz


def cell_center(origin: tuple[int, int], row: int, col: int) -> tuple[int, int]:
    """(x, y) of a cell's centre, from the documented layout: CELL-pixel cells from the grid's origin."""
    return origin[0] + col * viz.CELL + viz.CELL // 2, origin[1] + row * viz.CELL + viz.CELL // 2


def test_sliding_1d_frames_gif_and_pixels(tmp_path: Path) -> None:
    length, kernel, stride, padding, dilation = 7, 3, 2, 1, 2
    out_length = (length + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1  # 3
    code = main(
        [
            "viz",
            "sliding",
            "--out",
            str(tmp_path),
            "--input",
            str(length),
            "--kernel",
            str(kernel),
            "--stride",
            str(stride),
            "--padding",
            str(padding),
            "--dilation",
            str(dilation),
        ]
    )
    assert code == 0
    frames = sorted(tmp_path.glob("sliding_*.png"))
    assert [f.name for f in frames] == [f"sliding_{i:03d}.png" for i in range(out_length)]
    with Image.open(tmp_path / "sliding.gif") as gif:
        assert gif.n_frames == out_length
    padded = length + 2 * padding
    width = viz.MARGIN + padded * viz.CELL + viz.GAP + out_length * viz.CELL + viz.MARGIN + 1
    height = viz.MARGIN + viz.TITLE_HEIGHT + viz.CELL + viz.MARGIN + 1
    input_origin = (viz.MARGIN, viz.MARGIN + viz.TITLE_HEIGHT)
    output_origin = (viz.MARGIN + padded * viz.CELL + viz.GAP, viz.MARGIN + viz.TITLE_HEIGHT)
    for index, path in enumerate(frames):
        pixels = np.asarray(Image.open(path).convert("RGB"))
        assert pixels.shape == (height, width, 3)
        taps = {index * stride + j * dilation for j in range(kernel)}
        for column in range(padded):
            x, y = cell_center(input_origin, 0, column)
            if column in taps:
                expected = viz.TAP_COLOR
            elif padding <= column < padding + length:
                expected = viz.INPUT_COLOR
            else:
                expected = viz.PADDING_COLOR
            assert tuple(pixels[y, x]) == expected, (index, column)
        for column in range(out_length):
            x, y = cell_center(output_origin, 0, column)
            expected = viz.CURRENT_COLOR if column == index else viz.DONE_COLOR if column < index else viz.OUTPUT_COLOR
            assert tuple(pixels[y, x]) == expected, (index, column)


def test_sliding_2d_dilated_frame(tmp_path: Path) -> None:
    code = main(
        [
            "viz",
            "sliding",
            "--out",
            str(tmp_path),
            "--input",
            "5,6",
            "--kernel",
            "2",
            "--dilation",
            "2,3",
            "--padding",
            "0",
        ]
    )
    assert code == 0
    rows_out, cols_out = 5 - 2 * 1, 6 - 3 * 1  # (3, 3)
    assert len(list(tmp_path.glob("sliding_*.png"))) == rows_out * cols_out
    pixels = np.asarray(Image.open(tmp_path / "sliding_004.png").convert("RGB"))  # output (1, 1)
    origin = (viz.MARGIN, viz.MARGIN + viz.TITLE_HEIGHT)
    tap_cells = {(1 + 2 * a, 1 + 3 * b) for a in range(2) for b in range(2)}
    colours = {(r, c): tuple(pixels[cell_center(origin, r, c)[::-1]]) for r in range(5) for c in range(6)}
    assert {cell for cell, colour in colours.items() if colour == viz.TAP_COLOR} == tap_cells


def test_sliding_rejects_a_kernel_that_does_not_fit(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["viz", "sliding", "--out", str(tmp_path), "--input", "3", "--kernel", "5", "--padding", "0"]) == 2
    err = capsys.readouterr().err
    assert "does not fit" in err and "Traceback" not in err


def test_missing_pictures_extra(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["viz", "checkerboard", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pictures" in err and "matplotlib" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_group_connectivity_matches_torch(tmp_path: Path) -> None:
    in_channels, out_channels, groups = 6, 9, 3
    connected = arrays.group_connectivity(in_channels, out_channels, groups)
    weight = torch.ones(out_channels, in_channels // groups, 1, 1, dtype=torch.float64)
    gradient = torch.autograd.functional.jacobian(
        lambda x: TF.conv2d(x, weight, groups=groups).reshape(-1),
        torch.zeros(1, in_channels, 1, 1, dtype=torch.float64),
    )
    np.testing.assert_array_equal(connected, gradient.reshape(out_channels, in_channels).numpy() != 0)
    assert (
        main(["viz", "groups", "--out", str(tmp_path), "--in-channels", "6", "--out-channels", "9", "--groups", "3"])
        == 0
    )
    with Image.open(tmp_path / "groups.png") as image:
        assert image.size == (8 * viz.DPI, 4 * viz.DPI)


def test_transposed_matrices_match_torch(tmp_path: Path) -> None:
    length, kernel, stride, padding = 4, [1.0, 2.0, 3.0], 2, 1
    conv_matrix, transposed_matrix, out_length = arrays.conv_matrices(length, kernel, stride, padding)
    assert out_length == (length - 1) * stride - 2 * padding + len(kernel)
    weight = torch.tensor(kernel, dtype=torch.float64).view(1, 1, -1)
    x = torch.randn(out_length, dtype=torch.float64)
    y = torch.randn(length, dtype=torch.float64)
    np.testing.assert_allclose(
        conv_matrix @ x.numpy(),
        TF.conv1d(x.view(1, 1, -1), weight, stride=stride, padding=padding).view(-1).numpy(),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        transposed_matrix @ y.numpy(),
        TF.conv_transpose1d(y.view(1, 1, -1), weight, stride=stride, padding=padding).view(-1).numpy(),
        rtol=1e-12,
    )
    np.testing.assert_array_equal(transposed_matrix, conv_matrix.T)
    rows = arrays.scatter_rows(y.numpy(), kernel, stride, padding)
    np.testing.assert_allclose(
        rows.sum(axis=0),
        TF.conv_transpose1d(y.view(1, 1, -1), weight, stride=stride, padding=padding).view(-1).numpy(),
        rtol=1e-12,
    )
    assert main(["viz", "transposed", "--out", str(tmp_path), "--input", "4", "--padding", "1"]) == 0
    assert (tmp_path / "transposed.png").stat().st_size > 0


def test_checkerboard_overlap_pattern(tmp_path: Path) -> None:
    size = 6
    result = arrays.checkerboard_arrays(size)
    ones = torch.ones(1, 1, size, size, dtype=torch.float64)
    torch_uneven = TF.conv_transpose2d(
        ones, torch.ones(1, 1, 3, 3, dtype=torch.float64), stride=2, padding=1, output_padding=1
    )[0, 0]
    torch_even = TF.conv_transpose2d(ones, torch.ones(1, 1, 4, 4, dtype=torch.float64), stride=2, padding=1)[0, 0]
    np.testing.assert_array_equal(result["k3s2"], torch_uneven.numpy())
    np.testing.assert_array_equal(result["k4s2"], torch_even.numpy())
    # kernel 3, stride 2: an even output index gets 1 tap per dim, an odd one 2 → 1, 2, 4 tiled inside
    inner = result["k3s2"][1:-1, 1:-1]
    row_taps = np.where(np.arange(1, 2 * size - 1) % 2 == 0, 1, 2)
    np.testing.assert_array_equal(inner, np.outer(row_taps, row_taps))
    assert set(np.unique(inner)) == {1.0, 2.0, 4.0}
    np.testing.assert_array_equal(result["k4s2"][1:-1, 1:-1], 4.0)
    np.testing.assert_array_equal(result["resize_conv"][1:-1, 1:-1], 9.0)
    assert result["k3s2"].shape == result["k4s2"].shape == result["resize_conv"].shape == (2 * size, 2 * size)
    assert main(["viz", "checkerboard", "--out", str(tmp_path), "--size", str(size)]) == 0
    with Image.open(tmp_path / "checkerboard.png") as image:
        assert image.size == (11 * viz.DPI, round(3.8 * viz.DPI))


def test_kernels_and_features_from_a_torch_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    layer = torch.nn.Conv2d(3, 6, 3)
    checkpoint = tmp_path / "model.pt"
    torch.save({"conv.weight": layer.weight.detach(), "conv.bias": layer.bias.detach()}, checkpoint)
    weights, source = viz.first_layer_weights(str(checkpoint))
    np.testing.assert_allclose(weights, layer.weight.detach().numpy().astype(np.float64))
    assert "conv.weight" in source
    image_path = tmp_path / "picture.png"
    Image.fromarray((np.arange(20 * 16 * 3) % 256).astype(np.uint8).reshape(20, 16, 3)).save(image_path)
    out = tmp_path / "pictures"
    assert main(["viz", "kernels", "--out", str(out), "--checkpoint", str(checkpoint)]) == 0
    assert (
        main(["viz", "features", "--out", str(out), "--checkpoint", str(checkpoint), "--image", str(image_path)]) == 0
    )
    for name in ("kernels.png", "features.png"):
        with Image.open(out / name) as picture:
            assert picture.size[0] >= 200 and picture.size[1] >= 100


def test_default_features(tmp_path: Path) -> None:
    assert main(["viz", "features", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "features.png").exists()
    image, name = arrays.sample_image(64)
    assert image.ndim == 3 and image.shape[2] == 3 and max(image.shape[:2]) <= 64
    assert image.min() >= 0.0 and image.max() <= 1.0 and name
    bank = arrays.filter_bank()
    assert bank.shape == (8, 3, 5, 5)
    # the Sobel-like filter responds to a vertical edge, not to a flat image
    flat = torch.ones(1, 3, 9, 9, dtype=torch.float64)
    edge = torch.cat([torch.zeros(1, 3, 9, 4), torch.ones(1, 3, 9, 5)], dim=3).double()
    weight = torch.from_numpy(bank)
    assert TF.conv2d(flat, weight)[0, 0].abs().max() < 1e-12
    assert TF.conv2d(edge, weight)[0, 0].abs().max() > 0.5


def test_procedural_sample_when_scikit_learn_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrays.importlib.util, "find_spec", lambda name: None)
    image, name = arrays.sample_image(32)
    assert name == "procedural sample" and image.shape == (32, 32, 3)
    assert image.min() >= 0.0 and image.max() <= 1.0 and image.std() > 0.05
