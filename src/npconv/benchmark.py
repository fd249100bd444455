"""``npconv bench``: npconv's convolutions against PyTorch's, side by side in one process.

Every case of a fixed suite of real layer shapes is timed forward (under ``no_grad``) and forward+backward
(gradients of input, weight and bias). npconv and torch runs are interleaved and the medians compared, so
machine noise hits both alike. The table gives the median times, the ratio npconv/torch (below 1 means npconv
is faster), npconv's GFLOP/s and its share of this machine's float32 matmul peak (``np.matmul`` of two
2048² float32 matrices). Geometric means and the worst case close the table, followed by the per-call overhead
of a tiny convolution and the peak extra memory of a large-batch forward.

torch is imported only when installed; without it the ratio columns are left empty.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Case:
    """One layer: input shape, weight shape (in torch's layout for the module kind) and conv arguments."""

    name: str
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    output_padding: int = 0
    transposed: bool = False
    quick: bool = True

    @property
    def ndim(self) -> int:
        return len(self.input_shape) - 2

    def arguments(self) -> dict:
        arguments = {"stride": self.stride, "padding": self.padding, "dilation": self.dilation, "groups": self.groups}
        if self.transposed:
            arguments["output_padding"] = self.output_padding
        return arguments

    def flops(self) -> float:
        """Multiply-adds × 2 of the forward pass (for a transposed conv: of the scatter it performs)."""
        batch, channels, *spatial = self.input_shape
        kernel = self.weight_shape[2:]
        if self.transposed:
            out_per_group = self.weight_shape[1]
            return 2.0 * batch * channels * math.prod(spatial) * out_per_group * math.prod(kernel)
        out_spatial = [
            (size + 2 * self.padding - self.dilation * (k - 1) - 1) // self.stride + 1
            for size, k in zip(spatial, kernel)
        ]
        out_channels, per_group = self.weight_shape[:2]
        return 2.0 * batch * out_channels * math.prod(out_spatial) * per_group * math.prod(kernel)


SUITE = [
    Case("resnet 3×3 56² b1", (1, 64, 56, 56), (64, 64, 3, 3), padding=1, quick=False),
    Case("resnet 3×3 56² b8", (8, 64, 56, 56), (64, 64, 3, 3), padding=1),
    Case("resnet 3×3 28² b1", (1, 128, 28, 28), (128, 128, 3, 3), padding=1),
    Case("resnet 3×3 28² b8", (8, 128, 28, 28), (128, 128, 3, 3), padding=1, quick=False),
    Case("resnet 3×3 14² b1", (1, 256, 14, 14), (256, 256, 3, 3), padding=1, quick=False),
    Case("resnet 3×3 14² b8", (8, 256, 14, 14), (256, 256, 3, 3), padding=1),
    Case("resnet 3×3 s2 28² b8", (8, 128, 56, 56), (128, 128, 3, 3), stride=2, padding=1, quick=False),
    Case("1×1 256→64 56² b8", (8, 256, 56, 56), (64, 256, 1, 1)),
    Case("1×1 64→256 56² b8", (8, 64, 56, 56), (256, 64, 1, 1), quick=False),
    Case("1×1 1024→256 14² b8", (8, 1024, 14, 14), (256, 1024, 1, 1), quick=False),
    Case("1×1 s2 512→1024 28² b8", (8, 512, 28, 28), (1024, 512, 1, 1), stride=2, quick=False),
    Case("stem 7×7 s2 224² b4", (4, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3),
    Case("depthwise 3×3 112² b8", (8, 32, 112, 112), (32, 1, 3, 3), padding=1, groups=32),
    Case("depthwise 3×3 56² b8", (8, 144, 56, 56), (144, 1, 3, 3), padding=1, groups=144, quick=False),
    Case("depthwise 3×3 s2 56² b8", (8, 144, 56, 56), (144, 1, 3, 3), stride=2, padding=1, groups=144, quick=False),
    Case("grouped 3×3 g32 56² b4", (4, 128, 56, 56), (128, 4, 3, 3), padding=1, groups=32),
    Case("dilated 3×3 d2 28² b4", (4, 256, 28, 28), (256, 256, 3, 3), padding=2, dilation=2, quick=False),
    Case("convT k2 s2 64² b4 (U-Net)", (4, 128, 64, 64), (128, 64, 2, 2), stride=2, transposed=True),
    Case("convT k4 s2 p1 16² b16 (DCGAN)", (16, 128, 16, 16), (128, 64, 4, 4), stride=2, padding=1, transposed=True),
    Case("conv1d k3 d8 16000 b4 (audio)", (4, 32, 16000), (32, 32, 3), padding=8, dilation=8),
    Case("conv3d 3×3×3 16³ b2", (2, 32, 16, 16, 16), (32, 32, 3, 3, 3), padding=1),
]


# Outside the suite (``--large-kernels``, a table of its own, not in the suite's means or targets): kernels
# large enough for the FFT path, where torch's CPU convolution sums every tap directly.
LARGE_KERNELS = [
    Case("conv1d k255 16000 b2 (filter)", (2, 32, 16000), (32, 32, 255), padding=127),
    Case("depthwise conv1d k251 16000 b1 (filter bank)", (1, 80, 16000), (80, 1, 251), padding=125, groups=80),
    Case("conv2d 11×11 56² b8", (8, 64, 56, 56), (64, 64, 11, 11), padding=5),
    Case("depthwise 31×31 128² b2 (blur)", (2, 3, 128, 128), (3, 1, 31, 31), padding=15, groups=3),
]


def count(text: str) -> int:
    """An argument that counts something: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# ------------------------------------------------------------------------------------------ a whole network
# (batch, image size) of the ResNet-18 runs: ImageNet-sized images, and a CIFAR-sized batch
NETWORKS = ((8, 224), (32, 32))


def resnet18(library, num_classes: int = 1000):  # noqa: ANN201 - an npconv or torch Module
    """torchvision's ResNet-18 (BasicBlocks, layers and parameter names as torchvision has them), built
    from ``library``'s ``nn`` (``npconv`` or ``torch``: the same code serves both)."""
    nn = library.nn

    class BasicBlock(nn.Module):
        def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
                )

        def forward(self, x):  # noqa: ANN001, ANN202
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            widths, inplanes = (64, 128, 256, 512), 64
            for index, planes in enumerate(widths, start=1):
                stride = 1 if index == 1 else 2
                blocks = nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes))
                setattr(self, f"layer{index}", blocks)
                inplanes = planes
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):  # noqa: ANN001, ANN202
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).reshape(x.shape[0], -1))

    return ResNet18()


def _network_functions(library, network, images: np.ndarray, labels: np.ndarray) -> tuple[Callable, Callable]:
    """Inference (eval mode, no_grad) and one training step (train mode: forward, cross-entropy, backward;
    the gradients then dropped) of ``network`` on the shared arrays."""
    x, y = library.from_numpy(images), library.from_numpy(labels)

    def inference() -> object:
        network.eval()
        with library.no_grad():
            return network(x)

    def training_step() -> object:
        network.train()
        loss = library.nn.functional.cross_entropy(network(x), y)
        loss.backward()
        for parameter in network.parameters():
            parameter.grad = None
        return loss

    return inference, training_step


def _network_rows(npconv, torch, repeats: int) -> list[str]:
    """ResNet-18 at each (batch, size) of NETWORKS, in both libraries with the same weights: inference and a
    training step, interleaved, medians and their ratio."""
    ours = resnet18(npconv)
    theirs = resnet18(torch) if torch is not None else None
    if theirs is not None:
        state = {name: npconv.from_numpy(value.detach().numpy().copy()) for name, value in theirs.state_dict().items()}
        ours.load_state_dict(state)
    lines = ["| network | pass | npconv ms | torch ms | npconv/torch |", "|---|---|---:|---:|---:|"]
    rng = np.random.default_rng(0)
    for batch, size in NETWORKS:
        images = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
        labels = rng.integers(0, 1000, batch)
        functions = [_network_functions(npconv, ours, images, labels)]
        if theirs is not None:
            functions.append(_network_functions(torch, theirs, images, labels))
        for index, pass_name in enumerate(("inference", "training step")):
            medians = _interleaved_medians([pair[index] for pair in functions], repeats)
            theirs_text = _format_time(medians[1]) if theirs is not None else "–"
            ratio_text = f"{medians[0] / medians[1]:.2f}" if theirs is not None else "–"
            name = f"ResNet-18 b{batch} {size}²"
            lines.append(f"| {name} | {pass_name} | {_format_time(medians[0])} | {theirs_text} | {ratio_text} |")
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="a subset of the suite with fewer repeats (under a minute)"
    )
    parser.add_argument(
        "--repeats", type=count, default=None, help="timed runs per case and library (default 7, quick 3)"
    )
    parser.add_argument(
        "--runs",
        type=count,
        default=1,
        help="run the suite this many times: each case's median over the runs with the range of its ratio, "
        "and each run's geometric means and worst case (on a shared machine the spread is the noise)",
    )
    parser.add_argument("--filter", default="", help="run only cases whose name contains this text")
    parser.add_argument(
        "--network",
        action="store_true",
        help="also time a whole ResNet-18 (batch 8 at 224², batch 32 at 32²): inference and a training step",
    )
    parser.add_argument(
        "--large-kernels",
        action="store_true",
        help="also time a few large-kernel layers (FFT path) in a table of their own, outside the suite's means",
    )
    parser.add_argument("--no-torch", action="store_true", help="time npconv alone even when torch is installed")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="dtype of the suite")


def _import_torch(disabled: bool):  # returns the torch module or None
    if disabled:
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch


def blas_description() -> str:
    """The BLAS behind NumPy as threadpoolctl sees it: library, version, kernel architecture, threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed (pip install threadpoolctl to report the BLAS kernel)"
    entries = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    if not entries:
        return "no BLAS found by threadpoolctl"
    return "; ".join(
        f"{info.get('internal_api')} {info.get('version')} kernel {info.get('architecture')} "
        f"threads {info.get('num_threads')} ({os.path.basename(info.get('filepath', ''))})"
        for info in entries
    )


def matmul_peak(dtype: np.dtype, size: int = 2048, repeats: int = 5) -> float:
    """The best GFLOP/s of ``np.matmul`` on two size² matrices of ``dtype``."""
    a = np.random.default_rng(0).standard_normal((size, size)).astype(dtype)
    b = a.T.copy()
    np.matmul(a, b)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9


def wait_until_idle(window: float = 0.01, limit: float = 0.5) -> float:
    """Sleep until this process's threads have gone idle: less than 10 % of one core of CPU time over a
    ``window`` of wall time, or ``limit`` seconds at most. Returns the seconds waited.

    After its last call OpenBLAS keeps a worker spinning for about 0.14 s on this machine, torch's OpenMP
    pool for about 0.01 s; a library timed while the other's threads spin shares the cores with them."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        cpu = time.process_time()
        time.sleep(window)
        if time.process_time() - cpu < 0.1 * window:
            break
    return time.perf_counter() - start


# Untimed runs before each timed one last at least this long (and are at least one run). After the wait for
# idle threads, a library's worker threads need a few milliseconds of calls to return to a loop's speed:
# calls timed right after a single untimed one ran 1.2–1.4 times as long as after 20 ms of them when they
# make many BLAS calls on BLAS's threads (npconv's single-sample ResNet 3×3 at 56², 28² and 14²: 2.25 against
# 1.76 ms, 1.73 against 1.46, 1.97 against 1.39; torch's batched matmul of 24 products 1.8 times), 1.05
# times when they are one parallel region (torch's convolutions: 1.48 against 1.42 ms); 5 ms of untimed
# calls left part of it, 50 ms measured as 20.
WARM_UP_SECONDS = 0.02


def _interleaved_medians(functions: list[Callable[[], object]], repeats: int) -> list[float]:
    """``repeats`` rounds; in each, every function runs untimed (for at least WARM_UP_SECONDS, at least once)
    and then once timed, after the threads of the one before have gone idle (``wait_until_idle``). Median
    seconds each.

    The untimed runs right before each timed one put that library in the steady state of a loop of its own
    calls: its worker threads awake, the other library's idle. Timed straight after the other library,
    a run competes with that library's threads, which keep spinning for a while after their last call
    (torch's OpenMP pool and OpenBLAS's both do), and the two libraries slow each other down."""
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for index, function in enumerate(functions):
            gc.collect()
            wait_until_idle()
            warm_until = time.perf_counter() + WARM_UP_SECONDS
            function()
            while time.perf_counter() < warm_until:
                function()
            start = time.perf_counter()
            function()
            times[index].append(time.perf_counter() - start)
    return [statistics.median(samples) for samples in times]


def _case_functions(library, case: Case, arrays: dict) -> tuple[Callable[[], object], Callable[[], object]]:
    """The forward and forward+backward calls of ``case`` in ``library`` (``npconv`` or ``torch``: the same
    code serves both, since npconv has torch's API) on the shared arrays."""
    function = _functional(library.nn.functional, case)
    x, w, b, g = (library.from_numpy(arrays[key]) for key in ("x", "w", "b", "g"))

    def forward() -> object:
        with library.no_grad():
            return function(x, w, b, **case.arguments())

    def forward_backward() -> object:
        xg, wg, bg = (t.detach().requires_grad_() for t in (x, w, b))
        function(xg, wg, bg, **case.arguments()).backward(g)
        return xg.grad, wg.grad, bg.grad

    return forward, forward_backward


def _functional(module, case: Case) -> Callable:
    prefix = "conv_transpose" if case.transposed else "conv"
    return getattr(module, f"{prefix}{case.ndim}d")


def _arrays(case: Case, dtype: np.dtype) -> dict:
    import npconv
    import npconv.nn.functional as F

    rng = np.random.default_rng(0)
    x = rng.standard_normal(case.input_shape).astype(dtype)
    w = (rng.standard_normal(case.weight_shape) / math.sqrt(math.prod(case.weight_shape[1:]))).astype(dtype)
    bias_size = case.weight_shape[1] * case.groups if case.transposed else case.weight_shape[0]
    b = rng.standard_normal(bias_size).astype(dtype)
    with npconv.no_grad():
        out_shape = _functional(F, case)(npconv.from_numpy(x), npconv.from_numpy(w), None, **case.arguments()).shape
    g = rng.standard_normal(tuple(out_shape)).astype(dtype)
    return {"x": x, "w": w, "b": b, "g": g}


def _format_time(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}" if seconds < 10 else f"{seconds * 1e3:.0f}"


def _per_call_overhead(torch, repeats: int) -> tuple[float, float | None]:
    """Median seconds of ``F.conv2d`` on a (1, 1, 5, 4) input with a (4, 1, 2, 3) kernel."""
    import npconv
    import npconv.nn.functional as F

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 1, 5, 4)).astype(np.float32), rng.standard_normal((4, 1, 2, 3)).astype(np.float32)
    xn, wn = npconv.from_numpy(x), npconv.from_numpy(w)
    functions: list[Callable[[], object]] = [lambda: F.conv2d(xn, wn)]
    if torch is not None:
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        functions.append(lambda: torch.nn.functional.conv2d(xt, wt))
    inner = 200

    def batch_of(function: Callable[[], object]) -> Callable[[], object]:
        def run() -> None:
            for _ in range(inner):
                function()

        return run

    medians = _interleaved_medians([batch_of(function) for function in functions], repeats)
    return medians[0] / inner, (medians[1] / inner if torch is not None else None)


MEMORY_CASE = Case("memory: 3×3 64→64 56² b32", (32, 64, 56, 56), (64, 64, 3, 3), padding=1)

_MEMORY_SCRIPT = """
import sys, numpy as np

def status(field):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(field + ":"))

library = sys.argv[1]
x = np.random.default_rng(0).standard_normal((32, 64, 56, 56), dtype=np.float32)
w = np.random.default_rng(1).standard_normal((64, 64, 3, 3), dtype=np.float32)
if library == "torch":
    import torch as lib
    import torch.nn.functional as F
else:
    import npconv as lib
    import npconv.nn.functional as F
xt, wt = lib.from_numpy(x), lib.from_numpy(w)
F.conv2d(xt[:2], wt, padding=1)  # warm up: libraries, thread pools, first-call buffers
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # resets the peak (VmHWM) to the current resident size
with lib.no_grad():
    y = F.conv2d(xt, wt, padding=1)
print(status("VmHWM") - before - y.numel() * 4)
"""


def _rss_extra(library: str) -> float | None:
    """Peak resident-set growth of one large forward in a fresh process, minus the output's own size
    (Linux: /proc/self/status VmHWM after resetting it through /proc/self/clear_refs); None elsewhere."""
    try:
        result = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, library], capture_output=True, text=True, timeout=300, check=True
        )
        return float(result.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


def _traced_extra() -> tuple[float, float]:
    """npconv's peak NumPy allocation during one large forward (tracemalloc), minus the output; and in+out bytes."""
    import npconv
    import npconv.nn.functional as F

    rng = np.random.default_rng(0)
    x = npconv.from_numpy(rng.standard_normal(MEMORY_CASE.input_shape).astype(np.float32))
    w = npconv.from_numpy(rng.standard_normal(MEMORY_CASE.weight_shape).astype(np.float32))
    tracemalloc.start()
    tracemalloc.reset_peak()
    with npconv.no_grad():
        y = F.conv2d(x, w, padding=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    output_bytes = y.numel() * 4
    return peak - output_bytes, x.numel() * 4 + output_bytes


@dataclass(frozen=True)
class Measured:
    """One case and pass of one run of the suite: median seconds of npconv and of torch (None without it)."""

    case: Case
    pass_name: str
    ours: float
    theirs: float | None

    @property
    def ratio(self) -> float | None:
        return None if self.theirs is None else self.ours / self.theirs


PASSES = (("forward", 1.0), ("forward+backward", 3.0))  # name, and its multiply-adds relative to the forward


def _suite_run(cases: list[Case], npconv, torch, dtype: np.dtype, repeats: int) -> list[Measured]:
    """One run of the suite: every case and pass, npconv and torch interleaved."""
    measured = []
    for case in cases:
        arrays = _arrays(case, dtype)
        ours = _case_functions(npconv, case, arrays)
        theirs = _case_functions(torch, case, arrays) if torch is not None else None
        for index, (pass_name, _) in enumerate(PASSES):
            functions = [ours[index]] + ([theirs[index]] if theirs is not None else [])
            medians = _interleaved_medians(functions, repeats)
            measured.append(Measured(case, pass_name, medians[0], medians[1] if theirs is not None else None))
    return measured


def geometric_mean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(value) for value in values))


def _table(runs: list[list[Measured]], peak: float) -> list[str]:
    """The markdown table: per case and pass the medians over the runs of npconv's and torch's times and of
    their ratio (with its range when there are several runs), npconv's GFLOP/s and share of the peak."""
    several = len(runs) > 1
    lines = [
        "| case | pass | npconv ms | torch ms | npconv/torch |" + (" range over runs |" if several else "")
        + " GFLOP/s | % peak |",
        "|---|---|---:|---:|---:|" + ("---:|" if several else "") + "---:|---:|",
    ]
    multipliers = dict(PASSES)
    for row in zip(*runs):
        first = row[0]
        ours = statistics.median(m.ours for m in row)
        gflops = multipliers[first.pass_name] * first.case.flops() / ours / 1e9
        cells = [first.case.name, first.pass_name, _format_time(ours)]
        if first.theirs is not None:
            ratios = [m.ratio for m in row]
            cells += [_format_time(statistics.median(m.theirs for m in row)), f"{statistics.median(ratios):.2f}"]
            if several:
                cells.append(f"{min(ratios):.2f}–{max(ratios):.2f}")
        else:
            cells += ["–", "–"] + (["–"] if several else [])
        cells += [f"{gflops:.1f}", f"{100 * gflops / peak:.0f}%"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _summary(runs: list[list[Measured]]) -> list[str]:
    """Per pass: the geometric mean of the ratios and the worst case, of the median ratios over the runs;
    with several runs also each run's own."""
    lines = []
    for pass_name, _ in PASSES:
        per_run = [[m for m in run if m.pass_name == pass_name] for run in runs]
        medians = [(statistics.median(m.ratio for m in row), row[0].case.name) for row in zip(*per_run)]
        worst, worst_name = max(medians)
        line = f"- {pass_name}: geometric mean npconv/torch {geometric_mean([r for r, _ in medians]):.2f}, worst {worst:.2f} ({worst_name})"
        if len(runs) > 1:
            means = ", ".join(f"{geometric_mean([m.ratio for m in run]):.2f}" for run in per_run)
            worsts = ", ".join(f"{max(m.ratio for m in run):.2f}" for run in per_run)
            line += f"; per run: geometric means {means}, worst {worsts}"
        lines.append(line)
    return lines


def run(args: argparse.Namespace) -> int:
    import npconv

    torch = _import_torch(args.no_torch)
    dtype = np.dtype(args.dtype)
    repeats = args.repeats or (3 if args.quick else 7)
    cases = [case for case in SUITE if (case.quick or not args.quick) and args.filter in case.name]
    peak = matmul_peak(dtype)
    print("# npconv benchmark\n")
    print(f"- machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} logical CPUs")
    print(f"- NumPy {np.__version__}; BLAS: {blas_description()}")
    for variable in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if variable in os.environ:
            print(f"- environment: {variable}={os.environ[variable]}")
    if torch is not None:
        print(f"- torch {torch.__version__}, {torch.get_num_threads()} threads")
    else:
        print("- torch not installed (or --no-torch): npconv times only")
    print(f"- {repeats} interleaved rounds per case (each timed run right after untimed ones of the same library for at least {WARM_UP_SECONDS * 1e3:.0f} ms, once the other library's threads are idle), medians", flush=True)
    if args.runs > 1:
        print(f"- {args.runs} runs of the suite, one after another; the table gives medians over the runs", flush=True)
    # Everything imported so far (torch's modules: hundreds of thousands of objects) moves out of the
    # collector's reach, so that the collection before each timed pair takes about 1 ms instead of about
    # 60 ms: a pause that long leaves the cores idle, after which npconv's thread pool needs more than one
    # call to return to the speed of a loop (depthwise 3×3 112² b8: 20.3 against 12.6 ms; torch unchanged).
    gc.freeze()
    runs, calls = [], []
    try:
        for _ in range(args.runs):
            runs.append(_suite_run(cases, npconv, torch, dtype, repeats))
            calls.append(_per_call_overhead(torch, max(repeats, 5)))
    finally:
        gc.unfreeze()
    # the machine's load changes during a run: the peak is the best of a measurement before and after
    peak = max(peak, matmul_peak(dtype))
    print(f"- {dtype} matmul peak (np.matmul 2048², best before/after the suite): {peak:.1f} GFLOP/s\n")
    print("\n".join(_table(runs, peak)))
    if torch is not None and cases:
        print()
        print("\n".join(_summary(runs)))
    ours_call = statistics.median(ours for ours, _ in calls)
    text = f"\n- per-call overhead, F.conv2d (1,1,5,4) * (4,1,2,3): npconv {ours_call * 1e6:.1f} µs"
    if torch is not None:
        theirs_call = statistics.median(theirs for _, theirs in calls)
        text += f", torch {theirs_call * 1e6:.1f} µs, ratio {ours_call / theirs_call:.2f}"
        if len(calls) > 1:
            text += " (per run " + ", ".join(f"{ours / theirs:.2f}" for ours, theirs in calls) + ")"
    print(text)
    if args.large_kernels:
        large = [case for case in LARGE_KERNELS if args.filter in case.name]
        gc.freeze()
        try:
            large_runs = [_suite_run(large, npconv, torch, dtype, repeats) for _ in range(args.runs)]
        finally:
            gc.unfreeze()
        print("\nLarge kernels (outside the suite and its means):\n")
        print("\n".join(_table(large_runs, peak)))
        if torch is not None and large:
            print()
            print("\n".join(_summary(large_runs)))
    if args.network:
        gc.freeze()
        try:
            rows = _network_rows(npconv, torch, repeats)
        finally:
            gc.unfreeze()
        print("\n" + "\n".join(rows) + "\n")
    if not args.no_memory:
        traced, in_out = _traced_extra()
        bound = max(64 * 2**20, 0.25 * in_out)
        print(
            f"- peak extra memory of a forward {MEMORY_CASE.input_shape} * {MEMORY_CASE.weight_shape}: "
            f"npconv {traced / 2**20:.1f} MiB (tracemalloc, beyond the output; bound {bound / 2**20:.0f} MiB)",
            end="",
        )
        ours_rss = _rss_extra("npconv")
        if ours_rss is not None:
            print(f"; RSS growth beyond the output: npconv {ours_rss / 2**20:.1f} MiB", end="")
        if torch is not None:
            theirs_rss = _rss_extra("torch")
            if theirs_rss is not None:
                print(f", torch {theirs_rss / 2**20:.1f} MiB", end="")
        print()
    return 0
