"""``npconv demo``: a one-epoch smoke run through the CLI writes valid pictures and beats chance; bad
``--out`` folders and a missing ``demo`` extra are clear errors (exit 2) before any training."""

import re
import sys

import pytest

from npconv import demo
from npconv.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_one_epoch_smoke_run_writes_pictures_and_learns(tmp_path, capsys):
    out = tmp_path / "pictures"
    assert main(["demo", "--epochs", "1", "--seed", "3", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    accuracy = float(re.search(r"held-out accuracy ([\d.]+)%", captured.out).group(1))
    assert accuracy > 20.0, captured.out  # ten classes: chance is 10 %
    error = float(re.search(r"reconstruction error \(MSE\) ([\d.]+)", captured.out).group(1))
    assert 0 < error < 0.2
    assert "total wall time" in captured.out and str(out) in captured.out
    assert "img/s" in captured.err and "loss=" in captured.err  # the progress bars
    for name in demo.PICTURES:
        content = (out / name).read_bytes()
        assert content.startswith(PNG_SIGNATURE), name
        assert len(content) > 5_000, name


@pytest.mark.parametrize("make_out", [lambda tmp: tmp / "a-file", lambda tmp: tmp / "a-file" / "inside"])
def test_unwritable_out_is_an_error_before_training(tmp_path, capsys, make_out):
    (tmp_path / "a-file").write_text("not a folder")
    out = make_out(tmp_path)
    assert main(["demo", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert f"cannot write pictures to --out '{out}'" in captured.err
    assert "Traceback" not in captured.err
    assert "classifier" not in captured.out and captured.err.count("\n") == 1


@pytest.mark.parametrize("module", ["sklearn", "tqdm", "matplotlib"])
def test_missing_extra_names_the_install_command(monkeypatch, capsys, tmp_path, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    for name in list(sys.modules):
        if name.startswith(module + "."):
            monkeypatch.setitem(sys.modules, name, None)
    assert main(["demo", "--out", str(tmp_path)]) == 2
    message = capsys.readouterr().err
    assert "pip install 'npconv[demo]'" in message
    assert {"sklearn": "scikit-learn"}.get(module, module) in message


def test_no_plots_does_not_need_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert isinstance(demo._import_extra(no_plots=True), dict)
    assert isinstance(demo._import_extra(no_plots=False), str)


def test_options_and_defaults(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--epochs", "--seed", "--out", "--no-plots", demo.DEFAULT_OUT):
        assert option in text
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--epochs", "0"])
    assert exit_info.value.code == 2
