"""`npconv bench` runs end to end: a filtered one-case suite prints its row, the ratio and the summary."""

import gc
import re

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


def test_wait_until_idle_waits_for_a_busy_thread_and_not_otherwise():
    """The pause between libraries lasts while another thread of the process burns CPU, and ends at once
    when every thread is idle."""
    import threading
    import time

    from npconv.benchmark import wait_until_idle

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
