"""`npconv bench` runs end to end: a filtered one-case suite prints its row, the ratio and the summary."""

import gc
import re

import pytest

from npconv.cli import main


def test_bench_prints_a_row_with_a_ratio_and_the_summary(capsys):
    assert main(["bench", "--filter", "1×1 1024→256", "--repeats", "1", "--no-memory"]) == 0
    output = capsys.readouterr().out
    assert "BLAS: " in output and "torch 2.13.0" in output
    rows = [line for line in output.splitlines() if line.startswith("| 1×1 1024→256 14² b8 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["forward", "forward+backward"]
    for row in rows:
        npconv_ms, torch_ms, ratio = (float(cell) for cell in row.split("|")[3:6])
        assert npconv_ms > 0 and torch_ms > 0
        assert abs(ratio - npconv_ms / torch_ms) <= 0.01 + 0.01 * ratio
    assert re.search(r"forward: geometric mean npconv/torch \d+\.\d\d, worst", output)
    assert re.search(r"per-call overhead, F\.conv2d .*: npconv [\d.]+ µs, torch [\d.]+ µs", output)
    assert gc.get_freeze_count() == 0  # the suite's frozen objects are handed back to the collector


def test_bench_runs_report_the_median_ratio_with_its_range_and_each_runs_summary(capsys):
    assert main(["bench", "--filter", "1×1 1024→256", "--repeats", "1", "--runs", "3", "--no-memory"]) == 0
    output = capsys.readouterr().out
    assert "- 3 runs of the suite" in output
    rows = [line for line in output.splitlines() if line.startswith("| 1×1 1024→256 14² b8 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["forward", "forward+backward"]
    for row, pass_name in zip(rows, ("forward", "forward+backward")):
        ratio = float(row.split("|")[5])
        low, high = (float(value) for value in row.split("|")[6].split("–"))
        assert low <= ratio <= high
        # one case: each run's geometric mean and worst case is that run's ratio for it; their median is the
        # table's ratio and their extremes its range
        summary = re.search(rf"- {re.escape(pass_name)}: geometric mean npconv/torch ([\d.]+), worst ([\d.]+) .*"
                            r"; per run: geometric means ([\d., ]+), worst ([\d., ]+)$", output, re.MULTILINE)
        assert summary is not None
        means = [float(value) for value in summary.group(3).split(", ")]
        worsts = [float(value) for value in summary.group(4).split(", ")]
        assert len(means) == 3 and means == worsts
        assert float(summary.group(1)) == float(summary.group(2)) == ratio == sorted(means)[1]
        assert (min(means), max(means)) == (low, high)
    assert re.search(r"ratio [\d.]+ \(per run [\d.]+, [\d.]+, [\d.]+\)", output)


def test_bench_network_times_resnet18_inference_and_training_against_torch(capsys, monkeypatch):
    """A small batch and image keep it short; the rows hold both libraries' medians and their ratio."""
    from npconv import benchmark

    monkeypatch.setattr(benchmark, "NETWORKS", ((2, 64), (3, 32)))
    assert main(["bench", "--filter", "no such case", "--network", "--repeats", "1", "--no-memory"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ResNet-18 b")]
    assert [row.split("|")[1].strip() for row in rows] == ["ResNet-18 b2 64²"] * 2 + ["ResNet-18 b3 32²"] * 2
    assert [row.split("|")[2].strip() for row in rows] == ["inference", "training step"] * 2
    for row in rows:
        npconv_ms, torch_ms, ratio = (float(cell) for cell in row.split("|")[3:6])
        assert abs(ratio - npconv_ms / torch_ms) <= 0.01 + 0.01 * ratio


def test_the_benchmarks_two_networks_compute_the_same_function():
    """npconv's ResNet-18, given torch's weights as the benchmark gives them, matches torch's: logits in
    eval mode and the loss of a training step."""
    import numpy as np
    import torch

    import npconv
    from npconv import benchmark

    theirs = benchmark.resnet18(torch)
    ours = benchmark.resnet18(npconv)
    ours.load_state_dict({k: npconv.from_numpy(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    images, labels = rng.standard_normal((2, 3, 64, 64)).astype(np.float32), rng.integers(0, 1000, 2)
    (our_inference, our_step), (their_inference, their_step) = (
        benchmark._network_functions(library, network, images, labels)
        for library, network in ((npconv, ours), (torch, theirs))
    )
    np.testing.assert_allclose(our_inference().numpy(), their_inference().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(our_step().item(), their_step().item(), rtol=1e-4)
    assert all(parameter.grad is None for parameter in ours.parameters())


def test_bench_rejects_counts_below_one_naming_the_argument(capsys):
    for argument, value, message in (("--runs", "0", "must be at least 1, got 0"), ("--repeats", "x", "expected a whole number, got 'x'")):
        with pytest.raises(SystemExit) as raised:
            main(["bench", argument, value])
        assert raised.value.code == 2
        assert f"argument {argument}: {message}" in capsys.readouterr().err


def test_wait_until_idle_waits_for_a_busy_thread_and_not_otherwise():
    """The pause between libraries lasts while another thread of the process burns CPU, and ends at once
    when every thread is idle."""
    import threading
    import time

    from npconv.benchmark import wait_until_idle

    wait_until_idle(limit=1.0)  # threads that earlier tests' BLAS calls left spinning wind down first
    assert wait_until_idle() < 0.1

    def spin(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            sum(range(1000))

    worker = threading.Thread(target=spin, args=(0.3,))
    worker.start()
    try:
        waited = wait_until_idle(limit=1.0)
    finally:
        worker.join()
    assert 0.2 <= waited < 1.0


def test_interleaved_medians_warm_up_for_a_while_before_each_timed_run():
    """Each timed run follows untimed runs of the same function lasting WARM_UP_SECONDS (a 2-ms function runs
    up to ten times first), or a single one when one run already lasts that long; the median is of the
    timed runs alone."""
    import time

    from npconv.benchmark import WARM_UP_SECONDS, _interleaved_medians

    calls = {"short": 0, "long": 0}

    def short() -> None:
        calls["short"] += 1
        time.sleep(0.002)

    def long() -> None:
        calls["long"] += 1
        time.sleep(WARM_UP_SECONDS + 0.005)

    medians = _interleaved_medians([short, long], repeats=2)
    assert calls["long"] == 4  # one untimed and one timed run per round
    # at least two untimed runs a round even if a busy machine stretches each sleep, at most the warm-up's worth
    assert 2 * 3 <= calls["short"] <= 2 * (WARM_UP_SECONDS / 0.002 + 2)
    assert 0.002 <= medians[0] < 0.02 and WARM_UP_SECONDS + 0.005 <= medians[1] < WARM_UP_SECONDS + 0.05


def test_bench_large_kernels_print_a_table_of_their_own(capsys, monkeypatch):
    from npconv import benchmark

    monkeypatch.setattr(benchmark, "LARGE_KERNELS", [benchmark.Case("tiny filter", (1, 4, 300), (4, 4, 40), padding=20)])
    assert main(["bench", "--filter", "tiny filter", "--large-kernels", "--repeats", "1", "--no-memory"]) == 0
    output = capsys.readouterr().out
    large = output.split("Large kernels (outside the suite and its means):")[1]
    rows = [line for line in large.splitlines() if line.startswith("| tiny filter |")]
    assert [row.split("|")[2].strip() for row in rows] == ["forward", "forward+backward"]
    assert re.search(r"forward: geometric mean npconv/torch \d+\.\d\d, worst \d+\.\d\d \(tiny filter\)", large)


def test_the_large_kernel_cases_go_by_fft():
    import numpy as np

    from npconv.benchmark import LARGE_KERNELS
    from npconv.conv import fft

    for case in LARGE_KERNELS:
        ndim = case.ndim
        padding = [(case.padding, case.padding)] * ndim
        assert fft.applies(case.input_shape, case.weight_shape, (case.stride,) * ndim, padding, (case.dilation,) * ndim, case.groups, np.float32), case.name
