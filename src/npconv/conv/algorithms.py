"""Algorithms behind the convolution primitive, chosen per call by the shapes.

All work on channels-first arrays: x (N, C, *spatial), w (O, C // groups, *kernel), per-side zero
``padding`` (lo, hi) pairs in spatial order (negative values crop), and give y (N, O, *out) with, per
dimension, out = (lo + size + hi − dilation·(kernel − 1) − 1) // stride + 1.

* ``conv_im2col_small`` — tiny calls: one strided view, one copy, one product, shapes computed once per
  call signature (``small_plan``), so that the call costs little more than its NumPy calls.
* ``conv_pointwise`` — 1×…×1 kernels: one matrix product per group on the (N, C, Πspatial) layout, no unfold.
* ``conv_depthwise`` — one input channel per group: in 2-d with a batch (or a stride), each output row one
  BLAS product of the channel's kernel with kw column-shifted copies of its input rows
  (``depthwise_by_rows``); otherwise the kernel taps as shifted multiply-accumulates over whole planes (Πk
  vectorised axpy operations per block), strided ones over the padded input's stride phases (stride 2
  along the last axis: whole rows as complex pairs), and the output phases of a zero-stuffed input all
  from one copy.
* ``conv_grouped_by_column_shifts`` — grouped 2-d convolutions: each input channel copied kw times with its
  columns shifted per tap column, so that every tap row's inputs of a group form one matrix in memory: kh
  products per group, summed, where the unfold copies all kh·kw taps (1-d and 3-d ones unfold a few
  groups at a time, ``conv_im2col_by_groups``).
* ``conv_im2col`` — everything else: unfold a block of samples into a (n, G, C/G·Πk, Πout) matrix and
  multiply it by the (G, O/G, C/G·Πk) weight matrix, so the product lands in y's own layout; a batch on
  the pool in tasks of a block of one sample's output rows, or of several whole samples side by side when
  they have few positions, unfolded and multiplied while in cache.
* ``conv_dense_map`` — a batch of planes no larger than the kernel (2 × 2 inputs to a 3×3): one dense
  (O·P_out × P_in·C) linear map gathered from the kernel, one product, no padding multiplied.
* ``winograd`` and ``winograd_stride2`` (their own modules) — Winograd for 3×3 (3×3×3) kernels at stride 1
  and for 4×4 kernels at stride 2 or lhs dilation 2.
* ``fft`` (its own module) — kernels large enough that transforms beat the direct sum (long 1-d filters,
  large 2-d kernels): FFTs in overlap-save blocks, channels contracted per frequency; taken on an estimate
  of both times.
* ``conv_polyphase`` — inputs with lhs (zero-stuffing) dilation, i.e. transposed convolutions and the input
  gradient of strided ones: each output phase is an ordinary convolution of the *unstuffed* input with the
  kernel taps that meet non-zero positions, so no multiply ever touches an inserted zero.
* ``conv_stacked_phases`` — the same when every phase meets kernel / s taps per axis (k4 s2, k6 s3): the
  phases' sub-kernels stacked as the rows of one product with the unfolded windows of x.

The weight gradient has the same three shapes (``grad_weight_*``), contracting over batch and positions.
Work is split into blocks whose scratch buffers stay within ``WORKSPACE_BYTES``. A batch runs inside
``single_threaded_blas``: independent blocks, copies and transforms on a small thread pool (NumPy and BLAS
release the GIL), products as single-threaded BLAS calls on it. A single sample runs its products on BLAS's
own threads and the rest in the calling thread (``primitive`` decides which).
"""

from __future__ import annotations

import functools
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from itertools import product
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import memory

if TYPE_CHECKING:
    from . import winograd

# Largest scratch (unfolded matrix, padded block) one step may build; larger problems are chunked. Just under
# 32 MiB, glibc's largest mmap threshold (see ``memory``): a buffer above it is mapped
# afresh on every call and faults its pages in (the grouped 3×3, g32 at 56², batch 4, unfolded into one
# 58 MB block: 20.4 against 16.7 ms in blocks within this size).
WORKSPACE_BYTES = 32 * 2**20 - 2**17
# Blocks of elementwise work (depthwise taps) aim at this many output elements: large enough that each NumPy
# call does tens of microseconds of work (many short calls from two threads hand the GIL back and forth: the
# MobileNet 3×3 s2 at 56², 144 channels, batch 8, ran slower on two threads than on one with blocks of 2¹⁵),
# small enough to stay in cache. Measured best among 2¹⁶ … 2¹⁹ on the suite's depthwise cases; taps read
# straight from x (``depthwise_in_place``, no padded copy) do best with twice as many (3×3 at 56², 144
# channels, batch 8: 52, 25, 15, 13 and 17 ms for blocks of 2¹⁵ … 2¹⁹; 112², 32 channels: 48, 24, 13, 11
# and 12 ms).
ELEMENTWISE_BLOCK = 1 << 17
IN_PLACE_BLOCK = 1 << 18
# NumPy's arithmetic costs about 0.2 µs per row a call spans on top of ~0.2 ns per float32 element, so rows
# of a few hundred elements take 2–3 times as long per element as rows of thousands. Depthwise taps run
# over rows of at least MIN_RUN elements where the batch allows (samples stacked), and read x in place only
# for planes of at least IN_PLACE_MIN_PLANE (forward, batch 8: 56², 144 channels, 14.8 → 12.9 ms in place;
# 28², 192 channels, 5.8 → 10.3 ms in place; stacking to 2¹³ against 2¹²: 28² 7.3 → 5.8 ms).
MIN_RUN = 1 << 13
IN_PLACE_MIN_PLANE = 1 << 11
# Blocks of the depthwise weight gradient over stride phases: samples × phase-plane positions per channel
# block (measured best between 2¹⁷ and 2¹⁸ at stride 1: MobileNet 3×3 at 56², 144 channels, batch 8,
# 12.8 → 9.7 ms, before planes that large moved to ``grad_weight_depthwise_in_place``).
DEPTHWISE_GRAD_BLOCK = 1 << 18
THREADS = min(4, os.cpu_count() or 1)

Pairs = Sequence[tuple[int, int]]
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


# Freed scratch buffers of up to 32 MiB stay with the process for the next call instead of arriving as new
# pages (about 2000 page faults, 2–5 ms on this machine, for one ResNet 3×3 at 56², batch 1): see ``memory``.
memory.keep_freed_memory()

# OpenBLAS packs its operands into a buffer of its own per thread, and its kernels read ahead into parts of
# that buffer which a product with few rows (or a short contraction) never writes. Until some larger product
# has written those pages in the same thread, such products run far slower: on this project's benchmark
# machine (64 × 64)·(64 × 3136) took 23.5 against 34.3 GFLOP/s single-threaded in float32, and 25 against 60
# GFLOP/s on two BLAS threads, before and after one 512 × 512 product (writing the buffer's first 512 KiB
# directly did the same; the slow calls take no page faults). A float64 product packs twice the bytes and
# covers float64's kernels too (float64 on two threads: 24.9 against 38.8 GFLOP/s), so ``warm_up_blas`` runs
# one float64 product of that size once in every thread that multiplies: the importing thread with BLAS's own
# threads here, each pool worker when the pool starts.
WARM_UP_ORDER = 512


def warm_up_blas() -> None:
    """One float64 WARM_UP_ORDER² · WARM_UP_ORDER² product in the calling thread (and on BLAS's own
    threads when BLAS runs it threaded); see WARM_UP_ORDER for why."""
    square = np.ones((WARM_UP_ORDER, WARM_UP_ORDER))
    np.matmul(square, square)


warm_up_blas()


# A pool call this long after the last one ended holds the caller and the workers on separate cores
# (``WorkerCores``): after shorter gaps they still run apart (ResNet 3×3 at 28², batch 8, calls 0–3 ms
# apart: 7.9–8.6 ms either way; 10 ms apart 9.2–9.4 unheld, 8.5 held; 30 ms apart 15.6–17.0 against 9.4–9.5).
PAUSE_BEFORE_HOLDING = 0.002


class WorkerCores:
    """Keeps the pool's workers off the calling thread's core, and after a pause the calling thread on its
    own for the call, where the process may use exactly THREADS cores (Linux). After the process has
    idled, the scheduler often wakes a worker on the caller's core, or moves the caller, woken by a worker's
    release of the GIL, onto the worker's, and the two share one core for the rest of the call while the
    other idles (Conv3d (2, 32, 16³), a batch on the pool, the first call after a 30 ms pause: 7.5–8.0 ms, 5.2 held;
    ResNet 3×3 at 56², batch 8: 21.0–21.3 ms, 13.3–13.4 held). ``hold`` reads the caller's core
    (``sched_getcpu``, 0.15 µs) and confines the workers to the other cores whenever they may run on it,
    and after a pause keeps the caller on its core for the call (two ``sched_setaffinity`` calls, about
    3 µs with ``release``, which gives it its own set of cores back). Nothing is pinned where there are
    more cores than THREADS (the scheduler has room there), and a caller whose own set of cores was
    narrowed is not held."""

    def __init__(self, worker_ids: list[int]) -> None:
        self.worker_ids = worker_ids
        self.workers = frozenset(worker_ids)
        self.cores = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()
        self.current_core = _current_core_function() if len(self.cores) == THREADS > 1 else None
        self.workers_on: frozenset[int] = self.cores
        self.last_end = 0.0

    def hold(self) -> bool:
        """At the start of a pool call: keep the workers off the caller's core and, after a pause, hold the
        caller on it. Returns whether the caller was held (to be passed to ``release``)."""
        if self.current_core is None or threading.get_native_id() in self.workers:  # (a worker's own helpers)
            return False
        core = self.current_core()
        held = time.monotonic() - self.last_end >= PAUSE_BEFORE_HOLDING and os.sched_getaffinity(0) == self.cores
        try:
            if held:
                os.sched_setaffinity(0, {core})
            if core in self.workers_on:
                others = self.cores - {core}
                for worker in self.worker_ids:
                    os.sched_setaffinity(worker, others)
                self.workers_on = others
        except OSError:  # a core taken away meanwhile (or not permitted): leave it all to the scheduler
            self.current_core = None
            with suppress(OSError):
                for worker in self.worker_ids:
                    os.sched_setaffinity(worker, self.cores)
            self.release(held)
            return False
        return held

    def release(self, held: bool) -> None:
        """At the end of a pool call: the caller's cores back, if it was held."""
        self.last_end = time.monotonic()
        if held:
            with suppress(OSError):
                os.sched_setaffinity(0, self.cores)


def _current_core_function() -> Callable[[], int] | None:
    """The C library's ``sched_getcpu`` (the calling thread's core), or None where there is none."""
    try:
        import ctypes

        function = ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError, ImportError):
        return None
    function.restype = ctypes.c_int
    function.argtypes = []
    return function if function() >= 0 else None


_cores: WorkerCores | None = None


def _start_pool() -> ThreadPoolExecutor:
    """The pool, its THREADS workers started at once (a barrier holds each until all run) and each warmed
    up with single-threaded BLAS, as the products it will run are; their thread ids go to ``WorkerCores``."""
    global _cores
    pool = ThreadPoolExecutor(THREADS, thread_name_prefix="npconv")
    barrier = threading.Barrier(THREADS)
    worker_ids: list[int] = []

    def start() -> None:
        worker_ids.append(threading.get_native_id())
        with suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=10.0)
        warm_up_blas()

    with single_threaded_blas(PARALLEL_WORK):
        for future in [pool.submit(start) for _ in range(THREADS)]:
            future.result()
    _cores = WorkerCores(worker_ids)
    return pool


def _forget_pool() -> None:
    """In a forked child: the pool's worker threads were not copied, so the child starts a pool of its own
    when it first needs one (submitting to the parent's would wait forever)."""
    global _pool, _cores
    _pool = _cores = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _run_blocks(function: Callable[[int, int], None], total: int, step: int) -> None:
    """Call ``function(start, stop)`` for consecutive blocks of ``range(total)``, on the pool when many.

    The calling thread works too: it and THREADS − 1 pool workers each take the next block until none is
    left, so a call wakes THREADS − 1 sleeping workers instead of THREADS and the caller no longer waits to
    be woken by them (on this project's benchmark machine a wake-up costs tens of µs: two empty blocks took
    149 µs handed to two workers, 100 µs so; sixteen blocks of 20 µs 832 against 380 µs). Helpers that have
    not started by the time the caller has run the last block are cancelled instead of waited for: a call
    of two empty blocks took 69 → 11 µs. Inside a block the caller, like a worker, runs any further
    parallel helper in its own thread."""
    global _pool
    bounds = [(start, min(total, start + step)) for start in range(0, total, step)]
    if len(bounds) == 1 or THREADS == 1:
        for start, stop in bounds:
            function(start, stop)
        return
    if _pool is None:
        with _pool_lock:  # one pool, even when several threads make their first parallel call at once
            if _pool is None:
                _pool = _start_pool()
    pending, lock, failed = iter(bounds), threading.Lock(), []
    # emptied on return, so that a cancelled helper left in the pool's queue holds nothing of this call
    # (its blocks' arrays are freed now, not when a worker next takes it from the queue)
    work = [function]

    def take_blocks() -> None:
        while not failed:
            with lock:
                bound = next(pending, None)
            if bound is None:
                return
            try:
                work[0](*bound)
            except BaseException:
                failed.append(True)  # the others stop after their current block
                raise

    cores = _cores
    held = cores is not None and cores.hold()
    helpers = [_pool.submit(take_blocks) for _ in range(min(THREADS, len(bounds)) - 1)]
    limited = getattr(_blas, "limited", False)
    # the blocks' own parallel helpers run in this thread, as in a worker; ``in_block`` tells that this
    # thread is doing the pool's work meanwhile
    _blas.limited, _blas.in_block = False, True
    try:
        take_blocks()
    finally:
        _blas.limited, _blas.in_block = limited, False
        # ``wait`` would wait for a worker to pick up even a cancelled helper
        started = [future for future in helpers if not future.cancel()]
        wait(started)
        work.clear()
        if cores is not None:
            cores.release(held)
    for future in started:
        future.result()


def run_on_pool(function: Callable[[int, int], None], total: int) -> None:
    """Call ``function(i, i + 1)`` for every i in ``range(total)``, on the pool when there are several: each
    worker takes the next task when it is done with one."""
    _run_blocks(function, total, 1)


_blas = threading.local()
_controller = None
# Below this many multiply-adds a call runs as it comes: switching BLAS threads would cost more than it saves.
PARALLEL_WORK = 1 << 22


def _blas_controller():  # noqa: ANN202 - a threadpoolctl.ThreadpoolController, or False without threadpoolctl
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            _controller = ThreadpoolController()
    return _controller


def on_the_pool() -> bool:
    """Whether the calling thread is inside ``single_threaded_blas`` with more than one pool thread: work
    split over the pool then runs beside BLAS calls that use one thread each."""
    return THREADS > 1 and getattr(_blas, "limited", False)


@contextmanager
def single_threaded_blas(work: float) -> Iterator[None]:
    """Within this context, matrix products of ``parallel_matmul`` run as THREADS single-threaded BLAS calls
    on the thread pool instead of one multi-threaded BLAS call. BLAS's own threads spin while they wait
    and degrade badly when the cores are shared; pool workers simply block. Needs threadpoolctl (without
    it, or for small ``work`` in multiply-adds, BLAS keeps its own threads)."""
    controller = _blas_controller() if THREADS > 1 and work >= PARALLEL_WORK else False
    if not controller or getattr(_blas, "limited", False):
        yield
        return
    _blas.limited = True
    try:
        with controller.limit(limits=1, user_api="blas"):
            yield
    finally:
        _blas.limited = False


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Within this context BLAS uses one thread (through threadpoolctl when installed; otherwise, and inside
    ``single_threaded_blas``, nothing changes): for a product too small for the pool that should not leave
    OpenBLAS's threads spinning beside it (see ``nn.functional.linear.matrix_product``)."""
    controller = _blas_controller() if THREADS > 1 else False
    if not controller or getattr(_blas, "limited", False):
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def parallel_matmul(
    a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None, bias: np.ndarray | None = None
) -> np.ndarray:
    """np.matmul(a, b, out) (+ ``bias``, broadcast against out with a trailing axis of 1). Inside
    ``single_threaded_blas`` the work is split over the pool — by sample when one weight matrix ``a`` meets
    a stack of per-sample matrices ``b``, else along the output's last axis (or its rows when that axis is
    short) — and each share adds the bias to its own part of the output while it is still in cache; a plain
    np.matmul otherwise."""
    if out is None:
        shape = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
        out = np.empty(shape, dtype=np.result_type(a, b))
    if not getattr(_blas, "limited", False) or THREADS == 1:
        np.matmul(a, b, out=out)
        if bias is not None:
            out += bias
        return out
    samples = out.shape[0] if out.ndim > max(a.ndim, 2) and b.ndim == out.ndim else 0
    if samples >= THREADS and (samples % THREADS == 0 or samples >= 4 * THREADS):
        # a shared weight matrix times one matrix per sample: each worker takes whole samples (measured
        # faster than splitting every product, e.g. ResNet 3×3 stride 2 at 28², batch 8: 41 → 37 ms)

        def sample_part(start: int, stop: int) -> None:
            for index in range(start, stop):
                np.matmul(a, b[index], out=out[index])
                if bias is not None:
                    out[index] += bias

        _run_blocks(sample_part, samples, math.ceil(samples / THREADS))
        return out
    # split the larger operand, so that the threads do not each pack (copy) all of it
    a_size, b_size = a.shape[-2] * a.shape[-1], b.shape[-2] * b.shape[-1]
    columns_axis = (b_size >= a_size and out.shape[-1] >= 16 * THREADS) or out.shape[-2] < 16 * THREADS
    extent = out.shape[-1] if columns_axis else out.shape[-2]

    def part(start: int, stop: int) -> None:
        if columns_axis:
            part_a, part_b, part_out = a, b[..., start:stop], out[..., start:stop]
        else:
            part_a, part_b, part_out = a[..., start:stop, :], b, out[..., start:stop, :]
        if bias is None:
            np.matmul(part_a, part_b, out=part_out)
            return
        part_bias = bias if columns_axis else bias[..., start:stop, :]
        # one leading index (a sample) at a time, so that the bias meets each product while it is in cache
        leading = out.shape[0] if out.ndim > 3 else 1
        for index in range(leading):
            pick = (slice(index, index + 1),) if leading > 1 else ()
            a_i = part_a[pick] if part_a.ndim == out.ndim and part_a.shape[0] > 1 else part_a
            b_i = part_b[pick] if part_b.ndim == out.ndim and part_b.shape[0] > 1 else part_b
            np.matmul(a_i, b_i, out=part_out[pick])
            part_out[pick] += part_bias

    _run_blocks(part, extent, max(1, math.ceil(extent / THREADS)))
    return out


def strided_view(x: np.ndarray, shape: Sequence[int], strides: Sequence[int], writeable: bool = True) -> np.ndarray:
    """``numpy.lib.stride_tricks.as_strided(x, shape, strides)``: a view of x's memory with ``shape`` and byte
    ``strides`` from x's first element, made as an ndarray over the memory of x (or of the C-contiguous
    array x is a view of) in about 1–4 µs instead of as_strided's 8–10 µs of Python. Each pool worker makes
    one per block of many algorithms, while holding the GIL that the other worker's next NumPy call waits
    for (depthwise by rows at (8, 32, 112²), forward: 4.35 → 4.02 ms). The view must lie within that memory
    (else, and for any other x, as_strided)."""
    base, offset = x, 0
    if not x.flags.c_contiguous:
        base = x.base
        if not isinstance(base, np.ndarray) or not base.flags.c_contiguous:
            return as_strided(x, shape, strides, writeable=writeable)
        offset = x.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    try:
        view = np.ndarray(shape, x.dtype, base, offset, strides)
    except (TypeError, ValueError):  # no buffer to share (an empty array), or a view beyond it
        return as_strided(x, shape, strides, writeable=writeable)
    if not writeable:
        view.flags.writeable = False
    return view


def output_extent(size: int, kernel: int, stride: int, dilation: int) -> int:
    return (size - dilation * (kernel - 1) - 1) // stride + 1


# Up to this many input elements ``pad_zeros`` in the calling thread writes zeros everywhere and then the
# interior, in two NumPy calls: (8, 64, 28, 28) padded by 1, 290 against 240 µs; from about 2 MB on the one
# pass of the borders-only way is faster ((8, 64, 56, 56): 1350 against 1890 µs).
SMALL_PADDING = 1 << 19


def padding_slices(spatial: Sequence[int], padding: Pairs) -> tuple[tuple[slice, ...], tuple[slice, ...], list[int]]:
    """Per spatial dim, for (lo, hi) zeros around x (negative values crop): the part of x that is kept, where
    that part goes in the padded array, and the padded extent."""
    crop, inside, grown = [], [], []
    for size, (lo, hi) in zip(spatial, padding):
        kept = max(size - max(-lo, 0) - max(-hi, 0), 0)
        crop.append(slice(max(-lo, 0), max(-lo, 0) + kept))
        inside.append(slice(max(lo, 0), max(lo, 0) + kept))
        grown.append(max(lo, 0) + kept + max(hi, 0))
    return tuple(crop), tuple(inside), grown


def pad_zeros(x: np.ndarray, padding: Pairs) -> np.ndarray:
    """x with (lo, hi) zeros around each spatial dim (negative values crop); x itself when all pads are 0."""
    if all(lo == 0 and hi == 0 for lo, hi in padding):
        return x
    crop, inside, grown = padding_slices(x.shape[2:], padding)
    x = x[(slice(None), slice(None), *crop)]
    if all(lo <= 0 and hi <= 0 for lo, hi in padding):
        return x
    interior = (slice(None), slice(None), *inside)
    if x.size <= SMALL_PADDING and not getattr(_blas, "limited", False):
        out = np.zeros((*x.shape[:2], *grown), dtype=x.dtype)
        out[interior] = x
        return out
    out = np.empty((*x.shape[:2], *grown), dtype=x.dtype)
    # zeros only in the border slabs, the interior one copy; on the pool within single_threaded_blas, each
    # worker zeroing and filling its own part (the borders' many short runs took ~1 ms of one thread for a
    # (4, 256, 32, 32) block)

    def pad(part: tuple) -> None:
        zero_borders(out[part], interior[2:], 2)
        np.copyto(out[part][interior], x[part])

    split_first_axes(pad, out.shape)
    return out


def zero_borders(out: np.ndarray, interior: Sequence[slice], first_axis: int) -> None:
    """Zero the slabs of ``out`` outside ``interior``, one slice per axis from ``first_axis`` on."""
    for axis, part in enumerate(interior, start=first_axis):
        before = (slice(None),) * axis
        out[(*before, slice(0, part.start))] = 0
        out[(*before, slice(part.stop, None))] = 0


def window_view(
    x: np.ndarray, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int], groups: int
) -> np.ndarray:
    """A read-only view of shape (N, G, C/G, *out, *kernel): element [n, g, c, *o, *k] is
    x[n, g·C/G + c, *(o·stride + k·dilation)]."""
    batch, channels, *spatial = x.shape
    out = tuple(output_extent(s, k, st, d) for s, k, st, d in zip(spatial, kernel, stride, dilation))
    batch_stride, channel_stride, *spatial_strides = x.strides
    per_group = channels // groups
    shape = (batch, groups, per_group, *out, *kernel)
    strides = (
        batch_stride,
        channel_stride * per_group,
        channel_stride,
        *(s * st for s, st in zip(spatial_strides, stride)),
        *(s * d for s, d in zip(spatial_strides, dilation)),
    )
    return strided_view(x, shape, strides, writeable=False)


def output_shape(x_shape: Sequence[int], w_shape: Sequence[int], stride, padding: Pairs, dilation) -> tuple[int, ...]:
    spatial = [lo + size + hi for size, (lo, hi) in zip(x_shape[2:], padding)]
    out = [max(output_extent(s, k, st, d), 0) for s, k, st, d in zip(spatial, w_shape[2:], stride, dilation)]
    return (x_shape[0], w_shape[0], *out)


def _samples_per_block(batch: int, bytes_per_sample: int, concurrent: bool = False) -> int:
    """Samples per block so that the block's scratch stays within the workspace (within its share of it when
    up to THREADS blocks run at once). Blocks whose work is one big matrix product run one at a time: BLAS
    already uses every core, and a second caller would only oversubscribe them."""
    if not concurrent:
        return max(1, min(batch, WORKSPACE_BYTES // max(bytes_per_sample, 1)))
    share = WORKSPACE_BYTES // max(1, min(THREADS, batch))
    per_block = max(1, share // max(bytes_per_sample, 1))
    return max(1, min(per_block, math.ceil(batch / min(THREADS, batch))))


def split_first_axes(function: Callable[[tuple], None], shape: Sequence[int]) -> None:
    """Call ``function(index)`` with index selecting THREADS parts of an array of ``shape`` along the
    longer of its first two axes, on the thread pool within ``single_threaded_blas``; outside it BLAS's own
    threads are the parallel part of the work, and may still be spinning, so ``function`` gets the whole
    array (index ``()``) in the calling thread."""
    if not getattr(_blas, "limited", False):
        function(())
        return
    axis = 0 if shape[0] >= shape[1] else 1
    extent = shape[axis]

    def part(start: int, stop: int) -> None:
        function((slice(start, stop),) if axis == 0 else (slice(None), slice(start, stop)))

    _run_blocks(part, extent, max(1, math.ceil(extent / THREADS)))


def parallel_copy(target: np.ndarray, source: np.ndarray) -> None:
    """target[...] = source, split over the longer of the first two axes (``split_first_axes``)."""

    def copy(index: tuple) -> None:
        np.copyto(target[index], source[index])

    split_first_axes(copy, target.shape)


# Channels this many bytes apart (or a multiple) share their L1 cache sets: a channels-last copy that reads
# them one after another then misses on every read ((32, 64, 32, 32) float32, 4 KiB planes: 10.8 ms, through
# a copy with planes 64 bytes further apart 4.1 ms; (16, 64, 64, 64) 21.6 → 8.5; planes of 1 KiB, 3136 or
# 12544 bytes are not hurt, and the extra copy only costs there: (8, 64, 56, 56) 1.9 against 3.3 ms).
ALIASING_STRIDE = 4096
ALIASING_PAD = 64


def without_channel_aliasing(x: np.ndarray) -> np.ndarray:
    """x (N, C, *spatial), or when its channel stride is a multiple of ALIASING_STRIDE bytes an equal array
    whose channels are ALIASING_PAD bytes further apart (a view into a copy, split over the pool within
    ``single_threaded_blas``), for a copy that reads across channels (channels-last)."""
    if x.ndim < 3 or x.shape[1] < 2 or x.strides[1] % ALIASING_STRIDE:
        return x
    batch, channels, *spatial = x.shape
    plane = math.prod(spatial)
    pad = max(1, ALIASING_PAD // x.itemsize)
    buffer = np.empty((batch, channels, plane + pad), dtype=x.dtype)
    copy = buffer[:, :, :plane].reshape(x.shape)
    parallel_copy(copy, x)
    return copy


def even_share(total: int) -> float:
    """How evenly ``total`` items split into THREADS blocks of ceil(total / THREADS): 1.0 when the workers
    all get the same."""
    return total / (THREADS * math.ceil(total / THREADS)) if total else 1.0


def parallel_channels(function: Callable[[int, int], None], channels: int) -> None:
    """Call ``function(c0, c1)`` on THREADS slices of a channel range, on the thread pool within
    ``single_threaded_blas``; outside it, once over the whole range (as ``parallel_copy``)."""
    if not getattr(_blas, "limited", False):
        function(0, channels)
        return
    _run_blocks(function, channels, max(1, math.ceil(channels / THREADS)))


# Below this many output positions per sample, im2col's forward off the pool and the 1×…×1 forward and weight
# gradient take one product over a block's samples side by side (``unfold(..., side_by_side=True)``) instead
# of one per sample: a product per sample reads all of w for a few columns, and the weight gradient's
# contraction over a few positions rewrites the whole kernel-sized sum for every sample (3×3, 512 channels
# at 1², batch 32: forward 8.4 → 3.9 ms; weight gradient, single-threaded, 211 → 8.6 ms; at 2², 256
# channels, 16.0 → 6.3; at 4², 128: 6.6 → 5.9; at 7², 256, batch 16: 32.5 → 29.5; at 8², 64: 5.6 against
# 6.1, and from 14² on one product per sample was faster with the whole block side by side). On the pool
# im2col's forward, and its weight gradient everywhere, take a few samples side by side at a time instead
# (``side_by_side_samples``), up to IM2COL_SHARE_COLUMNS positions a sample.
SIDE_BY_SIDE_MAX = 64


def unfold(block: np.ndarray, kernel, stride, dilation, side_by_side: bool = False) -> np.ndarray:
    """The im2col matrix of an already padded block: (n, C, *kernel, *out), contiguous, so that it reshapes
    to (n, G, C/G·Πk, Πout) for any group count; with ``side_by_side`` (C, *kernel, n, *out), which
    reshapes to (G, C/G·Πk, n·Πout): one matrix whose columns are every sample's positions. The copy is
    split over the thread pool."""
    ndim = len(kernel)
    windows = window_view(block, kernel, stride, dilation, 1)[:, 0]  # (n, C, *out, *k)
    kernel_axes, out_axes = range(2 + ndim, 2 + 2 * ndim), range(2, 2 + ndim)
    order = (1, *kernel_axes, 0, *out_axes) if side_by_side else (0, 1, *kernel_axes, *out_axes)
    windows = windows.transpose(order)
    columns = np.empty(windows.shape, dtype=block.dtype)
    parallel_copy(columns, windows)
    return columns


# ---------------------------------------------------------------------------------------------- forward


def in_memory_order(w: np.ndarray) -> tuple[np.ndarray, tuple[int, ...], bool]:
    """A kernel view as its weights lie in memory: w with the kernel axes that the view flips (negative
    strides) flipped back, those axes, and whether its two channel axes are exchanged (the first the inner
    one in memory), as a transposed convolution's kernel and an input gradient's arrive
    (``primitive.flip_and_swap_channels``)."""
    flipped = tuple(axis for axis in range(2, w.ndim) if w.strides[axis] < 0)
    base = np.flip(w, axis=flipped) if flipped else w
    return base, flipped, min(base.shape[:2]) > 1 and base.strides[0] < base.strides[1]


def grouped_bias(bias: np.ndarray | None, groups: int) -> np.ndarray | None:
    """The (O,) bias as (G, O/G, 1): broadcast against a (…, G, O/G, positions) product."""
    return None if bias is None else bias.reshape(groups, -1, 1)


def conv_pointwise(
    x: np.ndarray, w: np.ndarray, stride, padding: Pairs, groups: int, bias: np.ndarray | None = None
) -> np.ndarray:
    """A 1×…×1 kernel: y[n, g] = W[g] · x[n, g] (+ bias) as (O/G, C/G) × (C/G, Πout) products, no unfold."""
    x = pad_zeros(x, padding)
    if any(s != 1 for s in stride):
        x = x[(..., *(slice(None, None, s) for s in stride))]
    batch, channels, *spatial = x.shape
    out_channels = w.shape[0]
    weights = w.reshape(groups, out_channels // groups, channels // groups)
    y = np.empty((batch, out_channels, *spatial), dtype=np.result_type(x, w))
    target = y.reshape(batch, groups, out_channels // groups, -1)
    biases = grouped_bias(bias, groups)
    strided = not x.flags.c_contiguous
    per_sample = math.prod(spatial) >= SIDE_BY_SIDE_MAX and batch > 1 and on_the_pool()
    # with more output than input channels the bias rides in the product, as a row of ones under each
    # sample's copied input and a column of biases beside the weights, instead of a pass over y (64 → 256
    # channels at 56², batch 8, forward 9.91 → 9.06 and 10.15 → 9.88 ms)
    ones_row = biases is not None and out_channels > channels
    if per_sample and (strided or ones_row):
        # each worker copies its samples' (strided) positions itself, while in cache for their products,
        # instead of the calling thread gathering the whole batch first (1×1 stride 2, batch 8, interleaved
        # medians: 512 → 1024 channels at 28² 15.1 → 14.2 and 18.6 → 16.5 ms, the gather alone 1.2 ms; 64 →
        # 128 at 56² 2.64 → 2.29)
        per_in = channels // groups
        extended = np.concatenate([weights, biases.astype(weights.dtype)], axis=2) if ones_row else weights

        def sample_part(start: int, stop: int) -> None:
            columns = np.empty((groups, per_in + ones_row, math.prod(spatial)), dtype=y.dtype)
            columns[:, per_in:] = 1
            inputs = columns[:, :per_in].reshape(groups, per_in, *spatial)
            for n in range(start, stop):
                np.copyto(inputs, x[n].reshape(groups, per_in, *spatial))
                np.matmul(extended, columns, out=target[n])
                if biases is not None and not ones_row:
                    target[n] += biases

        _run_blocks(sample_part, batch, math.ceil(batch / THREADS))
        return y
    columns = x.reshape(batch, groups, channels // groups, -1)  # a copy only when x is a strided view
    if math.prod(spatial) < SIDE_BY_SIDE_MAX and batch > 1:  # one product over the samples side by side
        wide = np.ascontiguousarray(columns.transpose(1, 2, 0, 3)).reshape(groups, channels // groups, -1)
        product_ = parallel_matmul(weights, wide, bias=biases)
        target[...] = product_.reshape(groups, out_channels // groups, batch, -1).transpose(2, 0, 1, 3)
        return y
    parallel_matmul(weights, columns, out=target, bias=biases)
    return y


def conv_depthwise(
    x: np.ndarray, w: np.ndarray, stride, padding: Pairs, dilation, bias: np.ndarray | None = None
) -> np.ndarray:
    """One input channel per group (groups = C, O = C·m): y[n, c·m + j] = Σ_taps w[c·m + j, 0, tap] ·
    x_pad[n, c, tap-shifted plane] (+ bias[c·m + j]).

    A single 2-d sample at stride 1 with small planes (``by_planes``): one BLAS product per channel and
    plane (``depthwise_by_planes``). Else in 2-d, undilated (``by_rows``), one BLAS product per output row
    (``depthwise_by_rows``).
    Otherwise one vectorised multiply-add per tap over a block of channels, the bias added to each block
    while it is in cache; every tap is a shift of a flat plane, one long contiguous run per channel: of x
    itself when the output has x's shape (``depthwise_in_place``), else of the padded input's phases
    (``depthwise_by_phases``)."""
    batch, channels, *spatial = x.shape
    out_channels, _, *kernel = w.shape
    shape = output_shape(x.shape, w.shape, stride, padding, dilation)
    y = np.empty(shape, dtype=np.result_type(x, w))
    if y.size == 0:
        return y
    weights = depthwise_weights(w, channels, y.dtype)
    if by_planes(x.shape, w.shape, stride, padding):
        depthwise_by_planes(x, weights, kernel, padding, dilation, bias, y)
        return y
    if by_rows(x.shape, stride, padding, dilation):
        depthwise_by_rows(x, weights, kernel, stride, padding, bias, y)
        return y
    taps = list(product(*(range(k) for k in kernel)))
    # where each tap reads relative to the output position's first input (o·stride), in padded coordinates
    offsets = [tuple(k * d for k, d in zip(tap, dilation)) for tap in taps]
    lows = [lo for lo, _ in padding]
    relative = [tuple(o - lo for o, lo in zip(offset, lows)) for offset in offsets]  # in x's coordinates
    in_place = (
        all(s == 1 for s in stride)
        and tuple(shape[2:]) == tuple(spatial)
        and (0,) * len(kernel) in relative
        and math.prod(spatial) >= IN_PLACE_MIN_PLANE
        and x.flags.c_contiguous
    )
    if in_place:
        depthwise_in_place(x, weights, relative, bias, y)
    else:
        depthwise_by_phases(x, weights, stride, lows, [(y, list(enumerate(offsets)))], bias)
    return y


def depthwise_weights(w: np.ndarray, channels: int, dtype) -> np.ndarray:
    """w (C·m, 1, *k) as contiguous (C, m, Πk): channel c of x feeds outputs c·m … c·m + m − 1. Contiguous
    because BLAS takes no reversed view (the input gradient's flipped kernel), which NumPy's matmul would
    otherwise hand to its own slow loop."""
    return np.ascontiguousarray(w.reshape(channels, w.shape[0] // channels, -1), dtype=dtype)


def depthwise_in_place(
    x: np.ndarray, weights: np.ndarray, offsets: list[tuple[int, ...]], bias: np.ndarray | None, y: np.ndarray
) -> None:
    """Stride 1 with y of x's shape: tap t adds w_t · x_flat[i + shift_t] to y_flat[i] over the positions i
    whose read stays inside the plane, straight from x into y (no padded copy). A read that crosses a row
    (or plane) boundary of a dim after the first belongs to the zero padding: those positions of the tap's
    product are zeroed before it is added. The tap of offset 0 goes first and writes every position."""
    batch, channels, *spatial = x.shape
    multiplier = weights.shape[1]
    plane = math.prod(spatial)
    pitches = [math.prod(spatial[d + 1 :]) for d in range(len(spatial))]
    plans = []
    for index in sorted(range(len(offsets)), key=lambda t: any(offsets[t])):  # the zero offset first
        offset = offsets[index]
        if any(abs(o) >= size for o, size in zip(offset, spatial)):
            continue  # reads padding only
        shift = sum(o * pitch for o, pitch in zip(offset, pitches))
        wrapped = [
            (axis, slice(0, -o) if o < 0 else slice(size - o, size))
            for axis, (o, size) in enumerate(zip(offset, spatial))
            if axis > 0 and o != 0
        ]
        plans.append((index, shift, max(0, -shift), min(plane, plane - shift), wrapped))
    per_block = max(1, min(channels, IN_PLACE_BLOCK // (plane * multiplier)))
    per_sample = math.ceil(channels / per_block)
    source = x.reshape(batch, channels, 1, plane)
    target = y.reshape(batch, channels, multiplier, plane)
    biases = None if bias is None else bias.reshape(channels, multiplier, 1)

    scratches = WorkerScratch(lambda: np.empty((per_block, multiplier, plane), dtype=y.dtype))

    def work(start: int, stop: int) -> None:
        scratch = scratches.get()
        for block in range(start, stop):
            n, c0 = divmod(block, per_sample)
            c0 *= per_block
            c1 = min(channels, c0 + per_block)
            block_source, block_target, block_weights = source[n, c0:c1], target[n, c0:c1], weights[c0:c1]
            block_scratch = scratch[: c1 - c0]
            for index, shift, lo, hi, wrapped in plans:
                tap_weight = block_weights[:, :, index, None]
                if shift == 0 and not wrapped:
                    np.multiply(block_source, tap_weight, out=block_target)
                    continue
                part = block_scratch[..., lo:hi]
                np.multiply(block_source[..., lo + shift : hi + shift], tap_weight, out=part)
                grid = block_scratch.reshape(c1 - c0, multiplier, *spatial)
                for axis, positions in wrapped:
                    grid[(slice(None), slice(None), *([slice(None)] * axis), positions)] = 0
                block_target[..., lo:hi] += part
            if biases is not None:
                block_target += biases[c0:c1]

    _run_blocks(work, batch * per_sample, 1)


# A single sample's depthwise convolution at stride 1 goes by planes (``depthwise_by_planes``) when taps ×
# plane elements (what it copies per channel) are at most PLANES_MAX; by rows it is faster from there on
# (forward, planes against rows, interleaved medians: 3×3 at 7², 960 channels, 2.15 → 1.45 ms; 14², 384
# channels, 1.89 → 1.15; 28², 192 channels, 2.45 → 2.00; 32², 128 channels, 1.95 → 1.77; 40², 96 channels,
# 1.82 against 1.95; 5×5 at 14², 480 channels, 3.50 → 3.18; at 28², 240 channels, 4.00 against 4.41).
# Its blocks of channels copy up to PLANES_BLOCK elements of the taps' rows.
PLANES_MAX = 9 * 32 * 32
PLANES_BLOCK = 1 << 18


def by_planes(x_shape: Sequence[int], w_shape: Sequence[int], stride, padding: Pairs) -> bool:
    """Whether ``depthwise_by_planes`` takes a depthwise convolution: a single 2-d sample, stride 1, no
    cropping, taps × plane elements at most PLANES_MAX."""
    return (
        len(x_shape) == 4
        and x_shape[0] == 1
        and all(s == 1 for s in stride)
        and all(lo >= 0 and hi >= 0 for lo, hi in padding)
        and math.prod(w_shape[2:]) * x_shape[2] * x_shape[3] <= PLANES_MAX
    )


def depthwise_by_planes(
    x: np.ndarray,
    weights: np.ndarray,
    kernel: Sequence[int],
    padding: Pairs,
    dilation: Sequence[int],
    bias: np.ndarray | None,
    y: np.ndarray,
) -> None:
    """A single sample at stride 1, one BLAS matrix–vector product per channel and output plane:
    y[0, c·m + j] = w[c·m + j] (kh·kw taps) · the (taps × H_out·pitch) matrix whose row for tap (dy, dx) is
    the plane padded above and below and flattened with rows of ``pitch`` elements, read from offset
    dy·d_h·pitch + dx·d_w on.

    Each row of that matrix is one contiguous copy, and the product covers the whole plane, where
    ``depthwise_by_rows`` has a copy per input row and a product per output row, whose fixed costs dominate
    on small planes. When the output rows are as wide as the input's and each tap reads at most one column
    beyond a row's end (3×3 with padding 1), the pitch is W itself (``flat_planes``): the input goes in
    with one contiguous copy per channel, the one column of each row that a tap reads from the neighbouring
    row is zeroed in its copy, and the products are y's planes, written in place (3×3 forward against the
    padded pitch, interleaved medians: 7², 960 channels, 0.60 → 0.52 ms; 14², 384, 0.55 → 0.50; 14², 576,
    0.73 → 0.66; 28², 192, 0.78 → 0.72). Otherwise the pitch is the padded width W_pad, whose last
    (kw − 1)·d_w positions of each row a flat shift reads across a row end: those outputs are computed and
    dropped. Runs in the calling thread, in blocks of channels."""
    channels, multiplier = weights.shape[:2]
    height, width = x.shape[2:]
    (top, bottom), (left, right) = padding
    out_h, out_w = y.shape[2:]
    (kh, kw), (dh, dw) = kernel, dilation
    flat = flat_planes(width, out_w, kw, left, dw)
    pitch = width if flat else width + left + right
    length = out_h * pitch  # positions per product: out_h rows of pitch
    taps = kh * kw
    per_block = max(1, min(channels, PLANES_BLOCK // (taps * length)))
    # padding stays zero: every block writes the same interior; room around the plane for the taps' runs
    rows = top + height + bottom
    if flat:
        padded = np.zeros((per_block, left + rows * pitch + right), dtype=y.dtype)
        interior = padded[:, left + top * pitch : left + (top + height) * pitch].reshape(per_block, height, width)
    else:
        padded = np.zeros((per_block, rows * pitch + (kw - 1) * dw), dtype=y.dtype)
        interior = padded[:, : rows * pitch].reshape(per_block, rows, pitch)[:, top : top + height, left : left + width]
    columns = np.empty((per_block, taps, length), dtype=y.dtype)
    products = None if flat else np.empty((per_block, multiplier, length), dtype=y.dtype)
    step = padded.strides
    for c0 in range(0, channels, per_block):
        c1 = min(channels, c0 + per_block)
        count = c1 - c0
        interior[:count] = x[0, c0:c1]
        shifted = strided_view(padded, (count, kh, kw, length), (step[0], dh * pitch * step[1], dw * step[1], step[1]))
        by_tap = columns[:count].reshape(count, kh, kw, out_h, pitch)
        np.copyto(by_tap.reshape(count, kh, kw, length), shifted)
        target = y[0, c0 * multiplier : c1 * multiplier].reshape(count, multiplier, out_h, out_w)
        if flat:
            for dx in range(kw):  # the column read from the neighbouring row: zero padding
                offset = dx * dw - left
                if offset:
                    by_tap[:, :, dx, :, 0 if offset < 0 else width - 1] = 0
            planes = target.reshape(count, multiplier, length)
            np.matmul(weights[c0:c1], columns[:count], out=planes)
            if bias is not None:
                planes += bias[c0 * multiplier : c1 * multiplier].reshape(count, multiplier, 1)
            continue
        np.matmul(weights[c0:c1], columns[:count], out=products[:count])
        planes = products[:count].reshape(count, multiplier, out_h, pitch)[..., :out_w]
        if bias is None:
            np.copyto(target, planes)
        else:
            np.add(planes, bias[c0 * multiplier : c1 * multiplier].reshape(count, multiplier, 1, 1), out=target)


def flat_planes(width: int, out_width: int, kernel_width: int, left: int, dilation: int) -> bool:
    """Whether ``depthwise_by_planes`` flattens the planes with rows of W (no padding columns): output rows
    as wide as the input's, and no tap reading more than one column beyond a row's end."""
    return out_width == width and all(abs(dx * dilation - left) <= 1 for dx in range(kernel_width))


# Scratch per block of ``depthwise_by_rows`` (elements: kernel-width copies of the block's padded rows),
# and the fewest blocks a batch is split into on the pool where its channels allow. Each block costs a few
# NumPy calls over 4–5-dimensional views (the shifted copies, the products, the copy into y), which weigh
# more than a block that leaves the L2 cache for L3: MobileNet's 3×3 shapes at batch 8, forward, blocks of
# 2¹⁹ against 2¹⁸ elements, interleaved medians: 112², 32 channels, 10.1 → 7.7 ms; 56², 144 channels, 9.8
# → 7.8; stride 2 at 56² 5.0 → 4.2; stride 2 at 112², 96 channels, 15.2 → 10.5; from 28² down level, with
# at least 2 blocks per pool thread (4 per thread: 7², 960 channels, 2.52 against 2.73 ms; 8 per thread
# 3.22). 2²⁰ and more: slower again (56²: 7.5 and 10.6 ms for 2²⁰ and 3 · 2¹⁹).
ROWS_BLOCK = 1 << 19
ROWS_MIN_BLOCKS = 2 * THREADS
# A forward whose output rows have at least this many columns goes one sample a block, its products written
# into y's rows in place, instead of several samples side by side and a copy into y (interleaved medians,
# forward / forward+backward: (8, 32, 112²) 6.60 → 5.33 / 25.8 → 23.6 ms, (16, 32, 112²) 13.5 → 10.9 /
# 42.8 → 38.1, (2, 32, 224²) 6.9 → 5.6 / 22.4 → 20.4; with 56 columns one sample a block lost, (8, 144,
# 56²) 6.6 → 7.7 ms, as did four, 7.0).
ROWS_IN_PLACE_WIDTH = 112
# Below this many columns (batch · output width) a strided depthwise weight gradient goes by stride phases.
ROWS_GRAD_MIN_COLUMNS = 192
# A single sample of fewer elements runs depthwise by rows in the calling thread: that work is bound by
# memory and by the cost of each call, and the pool's hand-offs cost more than the second core saves.
ROWS_POOL_MIN = 1 << 22


def by_rows(x_shape: Sequence[int], stride, padding: Pairs, dilation) -> bool:
    """Whether ``depthwise_by_rows`` takes a depthwise convolution: 2-d, undilated, no cropping. A single
    sample at stride 1 too: its products are only one output row wide, but written into y in place they
    still beat the elementwise taps (MobileNet shapes, batch 1, forward, interleaved medians: 28², 192
    channels, 3.7 → 1.4 ms; 14², 384 channels, 3.2 → 1.8; 5×5 at 28², 240 channels, 9.5 → 2.9; 112², 32
    channels, 3.7 → 2.8)."""
    return (
        len(x_shape) == 4
        and all(d == 1 for d in dilation)
        and all(lo >= 0 and hi >= 0 for lo, hi in padding)
    )


class WorkerScratch:
    """Scratch arrays for the blocks of one parallel call: each thread that takes blocks makes them once
    (``make()``) and reuses them for every further block it takes in that call, so that the blocks can go
    to the threads one at a time (the threads finish together) without zeroing or allocating a buffer for
    each. Depthwise by rows, blocks one at a time with one scratch per thread against a buffer zeroed per
    group of 3 blocks, forward in loops of calls: (8, 144, 56²) 4.68 → 4.47 ms (CPU time of both threads
    8.55 → 8.24), (8, 192, 28²) 2.04 → 1.90, (8, 32, 112²) 3.69 → 3.61."""

    def __init__(self, make: Callable[[], object]):
        self._make = make
        self._local = threading.local()

    def get(self):  # noqa: ANN201 - whatever ``make`` returns
        """This thread's scratch, made on its first call."""
        value = getattr(self._local, "value", None)
        if value is None:
            value = self._local.value = self._make()
        return value


class ShiftedRows:
    """The layout of ``depthwise_by_rows``: per channel, the padded input's rows copied kw times, shifted by
    dx columns and read with the stride, as (rows, kw, samples, W_out). The kh·kw vectors that output row h
    reads are then kh·kw consecutive rows of samples·W_out elements (rows h·s_h … h·s_h + kh − 1, each with
    its kw shifts): a plain matrix in memory, whose product with the kernel gives the whole output row for
    the block's samples.

    Blocks of samples and channels keep the copies near ROWS_BLOCK elements, the batch split evenly (on the
    pool into at least ROWS_MIN_BLOCKS blocks where the channels allow), with ``by_sample`` one sample a
    block for output rows of at least ROWS_IN_PLACE_WIDTH columns; a sample's channel too large for that is
    split into blocks of output rows."""

    def __init__(
        self,
        x_shape: Sequence[int],
        kernel: Sequence[int],
        stride,
        padding: Pairs,
        out: Sequence[int],
        by_sample: bool = False,
    ):
        batch, channels, self.height, width = x_shape
        self.kernel, self.stride, self.out = tuple(kernel), tuple(stride), tuple(out)
        (kh, kw), (sh, sw), (out_h, out_w) = self.kernel, self.stride, self.out
        (self.top, _), (left, _) = padding
        row_size = kw * out_w  # buffer elements per input row, channel and sample
        whole = (out_h - 1) * sh + kh  # padded rows all the outputs read
        self.batch, self.size = batch, batch * channels * self.height * width
        if whole * row_size <= ROWS_BLOCK:
            per_block = out_h
            samples = max(1, min(batch, ROWS_BLOCK // (whole * row_size)))
            if by_sample and out_w >= ROWS_IN_PLACE_WIDTH:
                samples = 1
            self.samples = -(-batch // -(-batch // samples))  # the batch split evenly
            self.channels = max(1, min(channels, ROWS_BLOCK // (whole * row_size * self.samples)))
            if self.on_the_pool():  # at least ROWS_MIN_BLOCKS blocks where the channels allow
                sample_blocks = -(-batch // self.samples)
                self.channels = max(1, min(self.channels, channels * sample_blocks // ROWS_MIN_BLOCKS))
        else:
            per_block = max(1, (ROWS_BLOCK // row_size - kh) // sh + 1)
            per_block = -(-out_h // -(-out_h // per_block))  # the rows split evenly
            self.samples, self.channels = 1, 1
        self.rows = (per_block - 1) * sh + kh  # buffer rows
        self.row_blocks = [(h0, min(out_h, h0 + per_block)) for h0 in range(0, out_h, per_block)]
        self.most_rows = min(per_block, out_h)  # output rows of the largest row block
        self.columns = []  # per dx: the output columns whose read lands in x, and x's first column read
        for dx in range(kw):
            first = max(0, -((dx - left) // sw))
            last = min(out_w - 1, (width - 1 + left - dx) // sw)
            if last >= first:
                self.columns.append((dx, first, last + 1, first * sw + dx - left))
        self.blocks = [
            (n0, c0, h0, h1)
            for n0 in range(0, batch, self.samples)
            for c0 in range(0, channels, self.channels)
            for h0, h1 in self.row_blocks
        ]
        self.channel_count = channels

    def buffer(self, dtype) -> np.ndarray:
        """A zeroed buffer for one block; padding positions are never written (unless the rows are split
        into blocks: then ``fill`` zeroes each block's padding rows), so they stay zero."""
        return np.zeros((self.channels, self.rows, self.kernel[1], self.samples, self.out[1]), dtype=dtype)

    def bounds(self, block: int) -> tuple[int, int, int, int, int, int]:
        """Samples, channels and output rows of block ``block``: (n0, n1, c0, c1, h0, h1)."""
        n0, c0, h0, h1 = self.blocks[block]
        return n0, min(self.batch, n0 + self.samples), c0, min(self.channel_count, c0 + self.channels), h0, h1

    def fill(self, buffer: np.ndarray, x: np.ndarray, block: int) -> np.ndarray:
        """Copy block ``block`` of x into ``buffer``; returns its matrices as (c, rows, kh·kw, samples·W_out)."""
        n0, n1, c0, c1, h0, h1 = self.bounds(block)
        sh, sw = self.stride
        start = h0 * sh - self.top  # the input row of buffer row 0
        rows = (h1 - h0 - 1) * sh + self.kernel[0]
        first, last = max(0, start), min(self.height, start + rows)  # the input rows it holds
        if len(self.row_blocks) > 1:  # padding rows above and below, where another row block put input rows
            buffer[: c1 - c0, : max(0, min(rows, first - start))] = 0
            buffer[: c1 - c0, max(0, last - start) : rows] = 0
        if last > first:
            source = x[n0:n1, c0:c1, first:last].transpose(1, 2, 0, 3)  # (c, row, n, column)
            target = buffer[: c1 - c0, first - start : last - start]
            for dx, begin, stop, read in self.columns:
                target[:, :, dx, : n1 - n0, begin:stop] = source[..., read : read + (stop - begin - 1) * sw + 1 : sw]
        step = buffer.strides
        shape = (c1 - c0, h1 - h0, self.kernel[0] * self.kernel[1], self.samples * self.out[1])
        return strided_view(buffer, shape, (step[0], sh * step[1], step[2], step[4]), writeable=False)

    def on_the_pool(self) -> bool:
        """Whether ``run`` hands the blocks to the pool: all but a single sample of fewer than ROWS_POOL_MIN
        elements."""
        return not (self.batch == 1 and self.size < ROWS_POOL_MIN)

    def run(self, work: Callable[[int, int], None]) -> None:
        """``work(start, stop)`` over the blocks: in the calling thread for a single sample of fewer than
        ROWS_POOL_MIN elements (batch 1, forward: 112², 32 channels, 3.3 → 2.5 ms; 56², 144 channels, 3.6 →
        2.3; 28², 192 channels, 1.6 → 1.1), else on the pool, one block at a time (``work`` keeps its
        scratch in a ``WorkerScratch``). Their products are many small BLAS calls, each in one pool worker:
        single-threaded BLAS even for a single sample, whose convolutions otherwise leave BLAS its own
        threads."""
        if not self.on_the_pool():
            work(0, len(self.blocks))
            return
        with single_threaded_blas(PARALLEL_WORK):
            _run_blocks(work, len(self.blocks), 1)


def depthwise_by_rows(
    x: np.ndarray,
    weights: np.ndarray,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Pairs,
    bias: np.ndarray | None,
    y: np.ndarray,
) -> None:
    """2-d depthwise convolution as matrix–vector products over rows of outputs: y[n, c·m + j, h, :] =
    Σ_{dy, dx} w[c·m + j, dy, dx] · x_pad[n, c, h·s_h + dy, dx + s_w·(0 … W_out − 1)].

    In the ``ShiftedRows`` layout each output row is one BLAS product of the (m × kh·kw) weights with a
    matrix of the copied rows, for all the block's samples at once. BLAS does each tap's multiply-add in one
    fused pass, where NumPy needs a multiply and an add over the block (MobileNet's shapes, batch 8,
    forward, interleaved medians against those passes: 3×3 at 56², 144 channels, 14.1 → 9.1 ms; 112², 32
    channels, 11.7 → 11.1; stride 2 at 56² 11.5 → 8.6; 14², 384 channels, 10.1 → 5.3; 5×5 at 28², 240
    channels, 17.2 → 8.1). The products come out as (channel, row, sample, column); the bias is added to
    them and they are copied into y's layout."""
    channels, multiplier = weights.shape[:2]
    out_h, out_w = y.shape[2:]
    layout = ShiftedRows(x.shape, kernel, stride, padding, (out_h, out_w), by_sample=True)
    row_weights = weights[:, None]  # (C, 1, m, taps)
    biases = None if bias is None else bias.reshape(channels, 1, multiplier, 1)

    def make_scratch() -> tuple[np.ndarray, np.ndarray | None]:
        products = None
        if layout.samples > 1:
            products = np.empty((layout.channels, layout.most_rows, multiplier, layout.samples * out_w), y.dtype)
        return layout.buffer(y.dtype), products

    scratch = WorkerScratch(make_scratch)

    def work(start: int, stop: int) -> None:
        buffer, products = scratch.get()
        for block in range(start, stop):
            n0, n1, c0, c1, h0, h1 = layout.bounds(block)
            if products is None:  # one sample a block: its products are y's rows, written in place
                target = y[n0, c0 * multiplier : c1 * multiplier, h0:h1]
                rows = target.reshape(c1 - c0, multiplier, h1 - h0, out_w).transpose(0, 2, 1, 3)  # (c, row, m, column)
                np.matmul(row_weights[c0:c1], layout.fill(buffer, x, block), out=rows)
                if bias is not None:  # in y's order: one long run when the block holds whole planes
                    target += bias[c0 * multiplier : c1 * multiplier, None, None]
                continue
            block_products = products[: c1 - c0, : h1 - h0]
            np.matmul(row_weights[c0:c1], layout.fill(buffer, x, block), out=block_products)
            if biases is not None:  # on the products' long rows: 2–3× faster than along with the copy into y
                block_products += biases[c0:c1]
            sums = block_products.reshape(c1 - c0, h1 - h0, multiplier, layout.samples, out_w)[:, :, :, : n1 - n0]
            target = y[n0:n1, c0 * multiplier : c1 * multiplier, h0:h1]
            target = target.reshape(n1 - n0, c1 - c0, multiplier, h1 - h0, out_w)  # a view: one axis split
            np.copyto(target, sums.transpose(3, 0, 2, 1, 4))  # (n, c, m, row, column)

    layout.run(work)


def grad_weight_depthwise_by_rows(
    x: np.ndarray, g: np.ndarray, kernel: Sequence[int], stride: Sequence[int], padding: Pairs, bias: np.ndarray | None
) -> np.ndarray:
    """dW of a 2-d undilated depthwise convolution in the ``ShiftedRows`` layout of its forward: dW[c·m + j]
    = Σ_h (the matrix of output row h) · g[:, c·m + j, h, :], one BLAS product per output row with g's row
    (copied to (channel, row, m, sample, column) alongside), summed over rows and blocks. With ``bias``
    ((O,), written) also Σ g, from the copied rows while in cache. Taken for strided convolutions whose rows
    span enough columns (batch · W_out ≥ ROWS_GRAD_MIN_COLUMNS; MobileNet 3×3 stride 2, batch 8, at 56²,
    144 channels: 10.5 → 6.8 ms; at 112², 96 channels: 23.5 → 17.5; with 112 columns, stride 2 at 28²,
    192 channels, it lost, 5.9 against 5.2 ms, as it does at stride 1 against
    ``grad_weight_depthwise_in_place``: 10.8 against 6.8 ms at 112², 32 channels)."""
    channels = x.shape[1]
    out_channels, out_h, out_w = g.shape[1:]
    multiplier = out_channels // channels
    layout = ShiftedRows(x.shape, kernel, stride, padding, (out_h, out_w))
    grads = g.reshape(g.shape[0], channels, multiplier, out_h, out_w)
    partial = np.zeros((len(layout.blocks), layout.channels, multiplier, math.prod(kernel)), dtype=np.result_type(x, g))
    sums = None if bias is None else np.zeros((len(layout.blocks), layout.channels, multiplier), dtype=partial.dtype)

    def make_scratch() -> tuple[np.ndarray, np.ndarray]:
        rows = np.empty((layout.channels, layout.most_rows, multiplier, layout.samples, out_w), dtype=g.dtype)
        return layout.buffer(x.dtype), rows

    scratch = WorkerScratch(make_scratch)

    def work(start: int, stop: int) -> None:
        buffer, rows = scratch.get()
        for block in range(start, stop):
            n0, n1, c0, c1, h0, h1 = layout.bounds(block)
            if n1 - n0 < layout.samples:  # a short block: the missing samples contribute nothing
                rows[:, :, :, n1 - n0 :] = 0
                buffer[..., n1 - n0 :, :] = 0  # (not another block's rows: 0 · inf would be NaN)
            rows[: c1 - c0, : h1 - h0, :, : n1 - n0] = grads[n0:n1, c0:c1, :, h0:h1].transpose(1, 3, 2, 0, 4)
            block_rows = rows[: c1 - c0, : h1 - h0].reshape(c1 - c0, h1 - h0, multiplier, -1)
            matrices = layout.fill(buffer, x, block).swapaxes(-1, -2)  # (c, out_h, samples·W_out, taps)
            partial[block, : c1 - c0] = np.matmul(block_rows, matrices).sum(axis=1)
            if sums is not None:
                sums[block, : c1 - c0] = block_rows.sum(axis=(1, 3))

    layout.run(work)
    result = np.zeros((channels, multiplier, partial.shape[-1]), dtype=partial.dtype)
    totals = None if sums is None else np.zeros((channels, multiplier), dtype=partial.dtype)
    for block, (_, c0, _, _) in enumerate(layout.blocks):
        c1 = min(channels, c0 + layout.channels)
        result[c0:c1] += partial[block, : c1 - c0]
        if totals is not None:
            totals[c0:c1] += sums[block, : c1 - c0]
    if bias is not None:
        bias[...] = totals.reshape(-1)
    return result.reshape(out_channels, 1, *kernel)


def phase_slices(size: int, lo: int, stride: int, phase: int, extent: int) -> tuple[slice, slice] | None:
    """Positions j < extent of one phase of a padded dim (padded position j·stride + phase) that hold x's
    elements, and those elements: (slice of j, slice of x), or None when there are none."""
    first = max(0, -((phase - lo) // stride))  # smallest j with j·stride + phase − lo ≥ 0
    last = min(extent - 1, (size - 1 + lo - phase) // stride)
    if last < first:
        return None
    start = first * stride + phase - lo
    return slice(first, last + 1), slice(start, start + (last - first) * stride + 1, stride)


class StridePhases:
    """A block's padded input split into its stride phases (padded position j·stride + r of each dim → phase
    r, index j) as a (channels, phases, samples, *extents) buffer: per channel, each phase holds the block's
    samples one after another, so that a tap reading phase (offset mod stride) at index o + offset div stride
    is one shift of a long flat run over all of them. ``outputs`` gives, per output, its extents and its taps'
    offsets (padded coordinates); each phase plane extends to the largest o + offset div stride."""

    def __init__(self, spatial, lows: Sequence[int], stride, outputs, samples_for) -> None:
        self.extents = [
            max(out[axis] + max(offset[axis] // s for offset in offsets) for out, offsets in outputs)
            for axis, s in enumerate(stride)
        ]
        self.plane = math.prod(self.extents)
        self.pitches = [math.prod(self.extents[d + 1 :]) for d in range(len(self.extents))]
        self.stride = tuple(stride)
        self.phases = sorted({tuple(o % s for o, s in zip(offset, stride)) for _, offsets in outputs for offset in offsets})
        self.samples = samples_for(self.plane)
        # per phase with any of x's elements: where they go in the phase plane and which ones they are
        self.fills = []
        for index, phase in enumerate(self.phases):
            parts = [phase_slices(n, lo, s, r, e) for n, lo, s, r, e in zip(spatial, lows, stride, phase, self.extents)]
            if all(part is not None for part in parts):
                self.fills.append((index, *zip(*parts)))

    def shift(self, offset) -> int:
        """Where a tap of this offset starts in a channel's flat run of the buffer."""
        phase = self.phases.index(tuple(o % s for o, s in zip(offset, self.stride)))
        return phase * self.samples * self.plane + sum(o // s * p for o, s, p in zip(offset, self.stride, self.pitches))

    def length(self, out) -> int:
        """Flat index of the last output of extents ``out`` + 1, at the phases' pitch."""
        return sum((o - 1) * pitch for o, pitch in zip(out, self.pitches)) + 1

    def buffer(self, channels: int, dtype) -> np.ndarray:
        return np.zeros((channels, len(self.phases), self.samples, *self.extents), dtype=dtype)

    def fill(self, buffer: np.ndarray, x: np.ndarray, n0: int, n1: int, c0: int, c1: int) -> None:
        """Copy samples n0 … n1 − 1, channels c0 … c1 − 1 of x into ``buffer``; positions of the padding keep
        their zeros (they are the same in every block)."""
        for phase, targets, sources in self.fills:
            buffer[(slice(0, c1 - c0), phase, slice(0, n1 - n0), *targets)] = x[
                (slice(n0, n1), slice(c0, c1), *sources)
            ].swapaxes(0, 1)


class PairedPhases(StridePhases):
    """``StridePhases`` for a stride of 2 along the last axis, whose two phases are not split apart: each
    row of the padded input stays whole, and padded position p of the last axis is part p mod 2 (real,
    imaginary) of complex element p div 2. A tap at last-axis offset o reads part o mod 2 of element
    index + o div 2, so that taps are shifts of complex runs as at stride 1, and the real part of a tap's
    product by w (o even) or by −i·w (o odd) is w · x_pad at the strided position (``paired_taps``; the
    offsets given here are those element offsets o div 2 along the last axis). The copy into the
    buffer moves whole rows (the strided gather of the last axis's phases costs about 1 ns per element,
    2–3 times a row copy); the arithmetic runs on twice the elements, half of them discarded."""

    def __init__(self, spatial, lows: Sequence[int], stride, outputs, samples_for) -> None:
        lead = len(stride) - 1
        super().__init__(
            spatial[:lead],
            lows[:lead],
            stride[:lead],
            [(out[:lead], [offset[:lead] for offset in offsets]) for out, offsets in outputs],
            lambda plane: 1,
        )
        self.extents.append(max(out[lead] + max(offset[lead] for offset in offsets) for out, offsets in outputs))
        self.plane = math.prod(self.extents)
        self.pitches = [math.prod(self.extents[d + 1 :]) for d in range(len(self.extents))]
        self.stride = (*self.stride, 1)
        self.phases = [(*phase, 0) for phase in self.phases]
        self.samples = samples_for(self.plane)
        # x's elements along the last axis that land in a row of 2·extent padded positions
        lo, size, floats = lows[lead], spatial[lead], 2 * self.extents[lead]
        first, last = max(0, -lo), min(size, floats - lo)
        rows = []
        for phase, *parts in self.fills:  # in 1-d a phase has no parts along the leading axes
            targets, sources = parts if parts else ((), ())
            rows.append((phase, (*targets, slice(lo + first, lo + last)), (*sources, slice(first, last))))
        self.fills = rows if last > first else []

    def buffer(self, channels: int, dtype) -> np.ndarray:
        """Zeros as real parts and imaginary parts of the complex dtype of ``dtype``'s precision."""
        floats = np.zeros((channels, len(self.phases), self.samples, *self.extents[:-1], 2 * self.extents[-1]), dtype)
        return floats.view(paired_dtype(dtype))

    def fill(self, buffer: np.ndarray, x: np.ndarray, n0: int, n1: int, c0: int, c1: int) -> None:
        super().fill(buffer.view(x.dtype), x, n0, n1, c0, c1)


def paired_dtype(dtype) -> np.dtype:
    """The complex dtype whose parts are ``dtype`` (float32 → complex64, float64 → complex128)."""
    return np.result_type(dtype, np.complex64)


def pairs_last_axis(stride, dtype) -> bool:
    """Whether depthwise work runs on ``PairedPhases``: stride 2 along the last axis of a real input."""
    return len(stride) > 0 and stride[-1] == 2 and np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize >= 4


def paired_element(offset: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """The complex element of ``PairedPhases`` that a tap at ``offset`` reads (last-axis offset o div 2) and
    which part of it (o mod 2: 0 real, 1 imaginary)."""
    return (*offset[:-1], offset[-1] // 2), offset[-1] % 2


def paired_taps(
    weights: np.ndarray, taps: list[tuple[int, tuple[int, ...]]]
) -> tuple[np.ndarray, list[tuple[int, tuple[int, ...]]]]:
    """Taps of offsets (…, o) on the complex elements of ``PairedPhases``: taps that read the same element
    (…, o div 2) merge into one complex weight Σ w · (1 if o is even else −i), whose product's real part is
    their sum. Returns the complex weights (C, m, merged taps) and the merged taps (index, offset)."""
    merged: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for index, offset in taps:
        element, part = paired_element(offset)
        merged.setdefault(element, []).append((index, part))
    complex_weights = np.zeros((*weights.shape[:2], len(merged)), dtype=paired_dtype(weights.dtype))
    for number, parts in enumerate(merged.values()):
        for index, part in parts:
            complex_weights[:, :, number] += weights[:, :, index] * (-1j if part else 1)
    return complex_weights, list(enumerate(merged))


def depthwise_by_phases(
    x: np.ndarray,
    weights: np.ndarray,
    stride,
    lows: Sequence[int],
    outputs: list[tuple[np.ndarray, list[tuple[int, tuple[int, ...]]]]],
    bias: np.ndarray | None,
) -> None:
    """Depthwise sums of x padded by ``lows`` zeros before each spatial dim (negative values crop) into each
    output of ``outputs``: (y (N, C·m, *out) of any strides, its taps as (index into weights' last axis,
    offset per dim)), y[n, c·m + j, o] = Σ_taps weights[c, j, index] · x_pad[n, c, o·stride + offset]
    (+ bias). Several outputs are the phases of a zero-stuffed input's convolution (``conv_polyphase``).

    The padded input of a block is copied once into its stride phases (``StridePhases``), which every output
    shares, and each tap is one shift of a long flat run over the block's samples. The sums are formed at
    the phases' pitch (a few discarded positions per row) and copied into y. With stride 2 along the last
    axis the rows stay whole, as complex pairs (``PairedPhases``; MobileNet 3×3 stride 2 at 56², 144
    channels, batch 8, calls back to back: 8.5 → 7.2 ms, CPU time of both threads 15.4 → 13.0 ms)."""
    batch, channels, *spatial = x.shape
    multiplier = weights.shape[1]
    paired = pairs_last_axis(stride, x.dtype)
    if paired:
        merged = [paired_taps(weights, taps) for _, taps in outputs]
        weights = np.concatenate([complex_weights for complex_weights, _ in merged], axis=2)
        starts = np.cumsum([0] + [len(taps) for _, taps in merged])
        outputs = [(y, [(start + index, offset) for index, offset in taps]) for (y, _), (_, taps), start in zip(outputs, merged, starts)]
    layout = (PairedPhases if paired else StridePhases)(
        spatial,
        lows,
        stride,
        [(y.shape[2:], [offset for _, offset in taps]) for y, taps in outputs],
        lambda plane: max(1, min(batch, math.ceil(MIN_RUN / plane))),
    )
    plane, samples = layout.plane, layout.samples
    plans = []
    for y, taps in outputs:
        out = y.shape[2:]
        y_grouped = strided_view(  # y as (N, C, m, *out), a view whatever y's strides
            y, (batch, channels, multiplier, *out), (y.strides[0], multiplier * y.strides[1], *y.strides[1:])
        )
        shifts = [(index, layout.shift(offset)) for index, offset in taps]
        plans.append((y_grouped, out, layout.length(out), shifts))
    biases = None if bias is None else bias.reshape(channels, multiplier, 1)
    parts = 2 if paired else 1  # real numbers per element of the arithmetic
    per_block = max(1, min(channels, ELEMENTWISE_BLOCK // (samples * plane * multiplier * parts)))
    blocks = [(n0, c0) for n0 in range(0, batch, samples) for c0 in range(0, channels, per_block)]
    samples_first = (2, 0, 1, *range(3, 3 + len(spatial)))  # (channel, m, sample, *out) → (sample, channel, m, *out)

    def make_scratch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # the phases' padding positions stay zero, only x's positions are rewritten; sums and products as
        # (channels, m, samples · plane) arrays: a tap's run covers the block's samples
        accumulator = np.empty(per_block * multiplier * samples * plane, dtype=weights.dtype)
        return layout.buffer(per_block, x.dtype), accumulator, np.empty_like(accumulator)

    scratches = WorkerScratch(make_scratch)

    def work(start: int, stop: int) -> None:
        source_buffer, accumulator, scratch = scratches.get()
        for n0, c0 in blocks[start:stop]:
            n1, c1 = min(batch, n0 + samples), min(channels, c0 + per_block)
            count, width = n1 - n0, c1 - c0
            layout.fill(source_buffer, x, n0, n1, c0, c1)
            source = source_buffer[:width].reshape(width, 1, -1)
            block_weights = weights[c0:c1]
            for y_grouped, out, length, shifts in plans:
                run = (count - 1) * plane + length
                rows = accumulator[: width * multiplier * count * plane].reshape(width, multiplier, count * plane)
                target = rows[..., :run]
                block_scratch = scratch[: width * multiplier * count * plane].reshape(rows.shape)[..., :run]
                for number, (index, shift) in enumerate(shifts):
                    shifted = source[..., shift : shift + run]
                    if number == 0:
                        np.multiply(shifted, block_weights[:, :, index, None], out=target)
                    else:
                        np.multiply(shifted, block_weights[:, :, index, None], out=block_scratch)
                        target += block_scratch
                if biases is not None:
                    target += biases[c0:c1]
                # the sums as (channel, m, sample, *extents); the last plane's positions after its last output
                # were not computed and are not read
                sums = rows.reshape(width, multiplier, count, *layout.extents)
                if paired:
                    sums = sums.real
                y_grouped[n0:n1, c0:c1] = sums[(..., *(slice(0, o) for o in out))].transpose(samples_first)

    _run_blocks(work, len(blocks), 1)


def conv_im2col(
    x: np.ndarray, w: np.ndarray, stride, padding: Pairs, dilation, groups: int, bias: np.ndarray | None = None
) -> np.ndarray:
    """Unfold blocks of samples into (n, G, C/G·Πk, Πout) matrices and multiply by the (G, O/G, C/G·Πk)
    weight matrix straight into y's layout (+ bias); blocks keep the unfolded matrix within
    ``WORKSPACE_BYTES`` (a single sample too large for it is split along its first output dimension). A batch
    on the pool goes in tasks: by ``conv_im2col_by_shares`` with at least IM2COL_SHARE_COLUMNS positions a
    sample, else by ``conv_im2col_by_samples`` when a sample's unfolded matrix fits a worker's part of the
    workspace."""
    batch, channels = x.shape[:2]
    out_channels, per_group, *kernel = w.shape
    shape = output_shape(x.shape, w.shape, stride, padding, dilation)
    y = np.empty(shape, dtype=np.result_type(x, w))
    if y.size == 0:
        return y
    if per_group == 0 or math.prod(kernel) == 0:
        y[...] = 0 if bias is None else bias.reshape(-1, *([1] * len(kernel)))
        return y
    depth = per_group * math.prod(kernel)
    biases = grouped_bias(bias, groups)
    weights = w.reshape(groups, out_channels // groups, depth)
    out_spatial = shape[2:]
    rows = out_spatial[0]
    row_bytes = channels * math.prod(kernel) * math.prod(out_spatial[1:]) * x.itemsize
    sample_bytes = row_bytes * rows
    if on_the_pool() and batch > 1:
        if math.prod(out_spatial) >= IM2COL_SHARE_COLUMNS and by_rows_of_windows(out_spatial, dilation):
            conv_im2col_by_rows(x, weights, kernel, stride, padding, dilation, biases, y)
            return y
        if math.prod(out_spatial) >= IM2COL_SHARE_COLUMNS:
            conv_im2col_by_shares(x, np.ascontiguousarray(weights), kernel, stride, padding, dilation, biases, y)
            return y
        if sample_bytes <= WORKSPACE_BYTES // THREADS:  # (a larger sample is split into rows below)
            conv_im2col_by_samples(x, np.ascontiguousarray(weights), kernel, stride, padding, dilation, biases, y)
            return y
    if sample_bytes <= WORKSPACE_BYTES:
        step = _samples_per_block(batch, sample_bytes)
        for start in range(0, batch, step):
            stop = min(batch, start + step)
            target = y[start:stop].reshape(stop - start, groups, out_channels // groups, -1)
            if math.prod(out_spatial) < SIDE_BY_SIDE_MAX and stop - start > 1:
                # few positions (see SIDE_BY_SIDE_MAX): one product over the block's samples side by side
                columns = unfold(pad_zeros(x[start:stop], padding), kernel, stride, dilation, side_by_side=True)
                product_ = parallel_matmul(weights, columns.reshape(groups, depth, -1), bias=biases)
                target[...] = product_.reshape(groups, out_channels // groups, stop - start, -1).transpose(2, 0, 1, 3)
                continue
            columns = unfold(pad_zeros(x[start:stop], padding), kernel, stride, dilation)
            columns = columns.reshape(stop - start, groups, depth, -1)
            parallel_matmul(weights, columns, out=target, bias=biases)
        return y
    rows_per_step = max(1, WORKSPACE_BYTES // max(row_bytes, 1))
    first_stride, first_dilation = stride[0], dilation[0]
    for n in range(batch):
        for r0 in range(0, rows, rows_per_step):
            r1 = min(rows, r0 + rows_per_step)
            # the input rows that output rows r0 … r1 − 1 read, padded like the whole input
            lo, hi = padding[0]
            top = r0 * first_stride - lo
            bottom = (r1 - 1) * first_stride + first_dilation * (kernel[0] - 1) + 1 - lo
            size = x.shape[2]
            slab = x[n : n + 1, :, max(top, 0) : min(bottom, size)]
            slab_padding = [(max(-top, 0), max(bottom - size, 0)), *padding[1:]]
            columns = unfold(pad_zeros(slab, slab_padding), kernel, stride, dilation).reshape(groups, depth, -1)
            product_ = parallel_matmul(weights, columns, bias=biases)
            y[n, :, r0:r1] = product_.reshape(out_channels, r1 - r0, *out_spatial[1:])
    return y


# A batch of planes with no more input positions than the kernel has taps (2 × 2 inputs to a 3×3 kernel:
# ResNet-18's last stage on 32² images) goes by ``conv_dense_map`` from this many samples on, its dense map's
# cost (O·C·P_out·P_in copied elements, whatever the batch) then paid back (forward against the unfold,
# interleaved medians, 3×3, 256 channels at 2²: batch 1 3.35×, 4 1.55×, 8 1.01×, 16 0.79×; 128 channels at
# 3², batch 8 1.27×, 16 1.02×; 64 channels at 3², batch 32 0.61×; ResNet-18 at batch 32 on 32² images,
# inference 0.87–0.92×, training step 0.87×).
DENSE_MAP_MIN_BATCH = 16


@functools.lru_cache(maxsize=64)
def dense_map_taps(spatial: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple) -> np.ndarray:
    """(P_out, P_in): for output position q and input position p (flat, C order) the flat index of the tap
    that connects them, or Πk where none does (that entry of the dense map is zero)."""
    out = [output_extent(lo + size + hi, k, st, d) for size, (lo, hi), k, st, d in zip(spatial, padding, kernel, stride, dilation)]
    outputs = np.indices(out).reshape(len(out), -1).T  # (P_out, d)
    inputs = np.indices(spatial).reshape(len(spatial), -1).T  # (P_in, d)
    index = np.zeros((len(outputs), len(inputs)), dtype=np.intp)
    valid = np.ones(index.shape, dtype=bool)
    for axis, (k, st, d, (lo, _)) in enumerate(zip(kernel, stride, dilation, padding)):
        offset = inputs[None, :, axis] + lo - outputs[:, None, axis] * st  # tap · dilation
        tap = offset // d
        valid &= (offset % d == 0) & (tap >= 0) & (tap < k)
        index = index * k + np.where(valid, tap, 0)
    index = np.where(valid, index, math.prod(kernel))
    index.flags.writeable = False
    return index


def by_dense_map(x_shape: Sequence[int], w_shape: Sequence[int], groups: int, out_shape: Sequence[int], itemsize: int) -> bool:
    """Whether ``conv_dense_map`` takes a convolution: one group, a batch of DENSE_MAP_MIN_BATCH samples or
    more, no more input positions than kernel taps, and the dense map within the workspace."""
    positions_in, positions_out = math.prod(x_shape[2:]), math.prod(out_shape[2:])
    return (
        groups == 1
        and x_shape[0] >= DENSE_MAP_MIN_BATCH
        and 1 < positions_in <= math.prod(w_shape[2:])
        and positions_out >= 1
        and w_shape[0] * positions_out * positions_in * x_shape[1] * itemsize <= WORKSPACE_BYTES
    )


def conv_dense_map(
    x: np.ndarray, w: np.ndarray, stride, padding: Pairs, dilation, bias: np.ndarray | None = None
) -> np.ndarray:
    """A convolution of tiny planes as one dense linear map: y[n, o, q] = Σ_{p, c} M[(o, q), (p, c)] ·
    x[n, c, p] with M[(o, q), (p, c)] = w[o, c, tap(q, p)] (zero where no tap connects input p to output q,
    ``dense_map_taps``). Its product (O·P_out × P_in·C) · (P_in·C × N) multiplies no padding, where the
    unfold multiplies every tap: on 2 × 2 planes with a 3×3 kernel 2.25× fewer multiplies, and one product
    with rows and depth in the thousands."""
    batch, channels, *spatial = x.shape
    out_channels, _, *kernel = w.shape
    shape = output_shape(x.shape, w.shape, stride, padding, dilation)
    dtype = np.result_type(x, w)
    index = dense_map_taps(tuple(spatial), tuple(kernel), tuple(stride), tuple(map(tuple, padding)), tuple(dilation))
    positions_out, positions_in = index.shape
    taps = np.empty((out_channels, math.prod(kernel) + 1, channels), dtype=dtype)  # (O, tap, C), a zero tap last
    taps[:, :-1] = w.reshape(out_channels, channels, -1).transpose(0, 2, 1)
    taps[:, -1] = 0
    dense = np.take(taps, index, axis=1).reshape(out_channels * positions_out, positions_in * channels)
    columns = np.ascontiguousarray(x.reshape(batch, channels, positions_in).transpose(2, 1, 0), dtype=dtype)
    product = parallel_matmul(dense, columns.reshape(positions_in * channels, batch))  # (O·P_out, N)
    y = np.empty(shape, dtype=dtype)
    flat = y.reshape(batch, out_channels, positions_out)
    if bias is None:
        np.copyto(flat, product.reshape(out_channels, positions_out, batch).transpose(2, 0, 1))
    else:
        np.add(product.reshape(out_channels, positions_out, batch).transpose(2, 0, 1), bias.reshape(-1, 1), out=flat)
    return y


# Scratch of one ``conv_im2col_by_shares`` task: the unfolded matrix of a block of one sample's output rows,
# of at least IM2COL_SHARE_COLUMNS positions. Samples with fewer positions than that go several to a task
# instead (``conv_im2col_by_samples``: a task of one sample's rows lost to its fixed costs, the stem on
# (32, 3, 32²), 256 positions a sample, 7.2 against 9.7 ms).
IM2COL_SHARE_BYTES = 1 << 21
IM2COL_SHARE_COLUMNS = 1024
# A ``conv_im2col_by_samples`` task takes samples side by side up to this many columns (and
# IM2COL_SHARE_BYTES of scratch).
IM2COL_SAMPLES_COLUMNS = 2048


def conv_im2col_by_shares(
    x: np.ndarray,
    weights: np.ndarray,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Pairs,
    dilation: Sequence[int],
    biases: np.ndarray | None,
    y: np.ndarray,
) -> None:
    """im2col for a batch on the pool: each task pads the input rows that a block of one sample's output rows
    reads, unfolds them into its worker's scratch (about IM2COL_SHARE_BYTES, at least IM2COL_SHARE_COLUMNS
    positions, within the worker's part of WORKSPACE_BYTES) and multiplies that by the (G, O/G, C/G·Πk)
    weights straight into y's rows while it is still in cache."""
    batch, _, rows, *rest = y.shape
    groups, per_out, depth = weights.shape
    row_columns = math.prod(rest)
    row_bytes = groups * depth * row_columns * y.itemsize
    per_share = max(IM2COL_SHARE_BYTES // max(row_bytes, 1), -(-IM2COL_SHARE_COLUMNS // max(row_columns, 1)))
    per_share = max(1, min(rows, per_share, WORKSPACE_BYTES // THREADS // max(row_bytes, 1)))
    per_share = -(-rows // -(-rows // per_share))  # the rows split evenly
    row_blocks = -(-rows // per_share)
    ndim = len(kernel)
    order = (0, *range(1 + ndim, 1 + 2 * ndim), *range(1, 1 + ndim))  # (C, *kernel, *out)
    (lo, _), size = padding[0], x.shape[2]

    def work(start: int, stop: int) -> None:
        scratch = np.empty(groups * depth * per_share * row_columns, dtype=y.dtype)
        for task in range(start, stop):
            n, block = divmod(task, row_blocks)
            r0 = block * per_share
            r1 = min(rows, r0 + per_share)
            # the input rows that output rows r0 … r1 − 1 read, padded like the whole input
            top = r0 * stride[0] - lo
            bottom = (r1 - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1 - lo
            slab = x[n : n + 1, :, max(top, 0) : min(bottom, size)]
            slab_padding = [(max(-top, 0), max(bottom - size, 0)), *padding[1:]]
            windows = window_view(pad_zeros(slab, slab_padding), kernel, stride, dilation, 1)[0, 0].transpose(order)
            columns = scratch[: windows.size].reshape(windows.shape)
            np.copyto(columns, windows)
            target = y[n, :, r0:r1].reshape(groups, per_out, -1)
            np.matmul(weights, columns.reshape(groups, depth, -1), out=target)
            if biases is not None:
                target += biases

    _run_blocks(work, batch * row_blocks, 1)


# A batch on the pool goes by ``conv_im2col_by_rows`` when its output rows (the positions of all spatial
# axes but the first) have at least this many columns; the first axis undilated. Against
# ``conv_im2col_by_shares``, forward, interleaved medians: the stem 7×7 s2 on (4, 3, 224²) 8.76 → 7.82 ms,
# on (8, 3, 224²) 17.4 → 15.5; 3×3 on (8, 8, 112²) 3.80 → 2.97, on (8, 16, 56²) 2.48 → 1.92, on (16, 16,
# 32²) 2.69 → 2.15; 5×5 on (8, 32, 56²) 13.2 → 10.7; with many channels level: 3×3 s2 on (8, 128, 56²) 14.0
# against 13.9, on (8, 256, 28²) 12.7 against 12.6 (14 and 28 columns a row).
ROWS_OF_WINDOWS_MIN_COLUMNS = 14


def by_rows_of_windows(out_spatial: Sequence[int], dilation: Sequence[int]) -> bool:
    """Whether a batch on the pool goes by ``conv_im2col_by_rows``: at least 2 spatial dims, the first one
    undilated, at least ROWS_OF_WINDOWS_MIN_COLUMNS positions in each output row."""
    return len(out_spatial) >= 2 and dilation[0] == 1 and math.prod(out_spatial[1:]) >= ROWS_OF_WINDOWS_MIN_COLUMNS


def conv_im2col_by_rows(
    x: np.ndarray,
    weights: np.ndarray,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Pairs,
    dilation: Sequence[int],
    biases: np.ndarray | None,
    y: np.ndarray,
) -> None:
    """im2col for a batch on the pool with the first spatial axis's taps read from consecutive rows
    instead of unfolded: each input row (an index of the first spatial axis, all channels) is unfolded
    along the other axes only, into a buffer of shape (G, rows, C/G, k₁, …, out₁, …); the C/G·Πk columns of
    output row r are then buffer rows r·s₀ … r·s₀ + k₀ − 1, one plain (k₀·C/G·Πk₁… × Πout₁…) matrix in
    memory, and one product with the weights (their taps ordered (k₀, c, k₁, …)) gives y's row r:

        y[n, g·O/G + o, r, …] = W[g, o, (k₀, c, k₁…)] · buffer[g, r·s₀ + k₀, c, k₁…, …]

    The buffer holds k₁·… copies of each input element where the unfold holds Πk (the stem 7×7 s2: 7
    against 49 / 2 per output row), at the cost of one product per output row. Each task fills the rows
    that a block of one sample's output rows reads (about IM2COL_SHARE_BYTES) into its worker's buffer and
    multiplies them into y's rows while they are in cache."""
    batch, channels, height, *_ = x.shape
    _, _, rows, *rest = y.shape
    groups, per_out, depth = weights.shape
    per_group, first, others = channels // groups, kernel[0], tuple(kernel[1:])
    # the weights' taps as (k₀, c, k₁, …)
    ordered = weights.reshape(groups, per_out, per_group, first, -1).transpose(0, 1, 3, 2, 4)
    ordered = np.ascontiguousarray(ordered).reshape(groups, 1, per_out, depth)
    columns = math.prod(rest)
    row_size = channels * math.prod(others) * columns  # buffer elements per input row
    per_share = max(1, (IM2COL_SHARE_BYTES // (row_size * y.itemsize) - first) // stride[0] + 1)
    per_share = min(rows, per_share, max(1, (WORKSPACE_BYTES // THREADS // (row_size * y.itemsize) - first) // stride[0] + 1))
    per_share = -(-rows // -(-rows // per_share))  # the rows split evenly
    row_blocks = -(-rows // per_share)
    most_rows = (per_share - 1) * stride[0] + first
    (top, _), others_padding = padding[0], list(padding[1:])
    targets = y.reshape(batch, groups, per_out, rows, columns)
    ndim = len(kernel)

    def work(start: int, stop: int) -> None:
        buffer = np.empty((groups, most_rows, per_group, *others, *rest), dtype=y.dtype)
        step = buffer.strides
        for task in range(start, stop):
            n, block = divmod(task, row_blocks)
            r0 = block * per_share
            r1 = min(rows, r0 + per_share)
            begin = r0 * stride[0] - top  # the input row of buffer row 0
            count = (r1 - r0 - 1) * stride[0] + first
            lo, hi = max(begin, 0), min(begin + count, height)
            buffer[:, : max(0, min(count, lo - begin))] = 0  # rows of the first axis's padding
            buffer[:, max(0, hi - begin) : count] = 0
            if hi > lo:
                slab = pad_zeros(x[n : n + 1, :, lo:hi], [(0, 0), *others_padding])
                # (G, row, C/G, k₁…, out₁…) windows of the slab along the axes after the first
                windows = window_view(slab, (1, *others), (1, *stride[1:]), (1, *dilation[1:]), groups)[0]
                windows = windows.squeeze(ndim + 2)  # (G, C/G, row, out₁…, k₁…)
                windows = windows.transpose(0, 2, 1, *range(ndim + 2, 2 * ndim + 1), *range(3, ndim + 2))
                np.copyto(buffer[:, lo - begin : hi - begin], windows)
            shape = (groups, r1 - r0, depth, columns)
            matrices = strided_view(buffer, shape, (step[0], stride[0] * step[1], columns * y.itemsize, y.itemsize))
            target = targets[n, :, :, r0:r1]
            np.matmul(ordered, matrices, out=target.transpose(0, 2, 1, 3))
            if biases is not None:
                target += biases[..., None]

    _run_blocks(work, batch * row_blocks, 1)


def side_by_side_samples(positions: int, sample_bytes: int) -> int:
    """Samples to unfold side by side for one product: up to IM2COL_SAMPLES_COLUMNS columns and
    IM2COL_SHARE_BYTES of unfolded matrix, at least one sample."""
    per_block = min(-(-IM2COL_SAMPLES_COLUMNS // max(positions, 1)), IM2COL_SHARE_BYTES // max(sample_bytes, 1))
    return max(1, per_block)


def samples_per_task(batch: int, positions: int, sample_bytes: int) -> int:
    """Samples a ``conv_im2col_by_samples`` task takes: ``side_by_side_samples``, no more than a worker's
    part of the batch, the batch split evenly."""
    per_task = max(1, min(side_by_side_samples(positions, sample_bytes), -(-batch // THREADS)))
    return -(-batch // -(-batch // per_task))


def conv_im2col_by_samples(
    x: np.ndarray,
    weights: np.ndarray,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Pairs,
    dilation: Sequence[int],
    biases: np.ndarray | None,
    y: np.ndarray,
) -> None:
    """im2col for a batch on the pool whose samples have few positions: each task pads a block of whole
    samples (``samples_per_task``), unfolds them side by side into its worker's scratch, (C/G·Πk, n·Πout)
    per group, and multiplies that by the (G, O/G, C/G·Πk) weights in one product, whose columns (plus the
    bias) are then copied into the block's samples of y while in cache; a block of one sample is multiplied
    straight into y."""
    batch = y.shape[0]
    groups, per_out, depth = weights.shape
    positions = math.prod(y.shape[2:])
    per_task = samples_per_task(batch, positions, groups * depth * positions * y.itemsize)
    ndim = len(kernel)
    order = (1, *range(2 + ndim, 2 + 2 * ndim), 0, *range(2, 2 + ndim))  # (C, *kernel, n, *out)
    flat = y.reshape(batch, groups, per_out, positions)

    def work(start: int, stop: int) -> None:
        scratch = np.empty(groups * depth * per_task * positions, dtype=y.dtype)
        products = np.empty((groups, per_out, per_task * positions), dtype=y.dtype) if per_task > 1 else None
        for task in range(start, stop):
            n0 = task * per_task
            n1 = min(batch, n0 + per_task)
            windows = window_view(pad_zeros(x[n0:n1], padding), kernel, stride, dilation, 1)[:, 0].transpose(order)
            columns = scratch[: windows.size].reshape(windows.shape)
            np.copyto(columns, windows)
            matrix = columns.reshape(groups, depth, -1)
            if products is None:
                target = flat[n0]
                np.matmul(weights, matrix, out=target)
                if biases is not None:
                    target += biases
                continue
            block = products[:, :, : (n1 - n0) * positions]
            np.matmul(weights, matrix, out=block)
            if biases is not None:
                block += biases
            np.copyto(flat[n0:n1], block.reshape(groups, per_out, n1 - n0, positions).transpose(2, 0, 1, 3))

    _run_blocks(work, -(-batch // per_task), 1)


# Scratch of one ``conv_im2col_by_groups`` task: the unfolded matrices of a few groups of one sample, sized
# to stay in cache between the unfold and the product (grouped 3×3, 32 groups of 4 channels at 56², batch 4,
# interleaved medians: one group a task 12.1 ms, two (0.9 MB) 11.1, four 11.2).
GROUP_SCRATCH_BYTES = 1 << 20


def unfolds_by_groups(w_shape: Sequence[int], out_shape: Sequence[int], groups: int, itemsize: int) -> bool:
    """Whether a grouped convolution is computed by ``conv_im2col_by_groups``: more than one group, and one
    group's unfolded matrix of one sample within a worker's share of the workspace."""
    per_group = w_shape[1] * math.prod(w_shape[2:])
    return groups > 1 and per_group * math.prod(out_shape[2:]) * itemsize <= WORKSPACE_BYTES // THREADS


def groups_per_task(depth: int, positions: int, itemsize: int, groups: int) -> int:
    """How many groups' unfolded (depth × positions) matrices one task unfolds at once: GROUP_SCRATCH_BYTES."""
    return max(1, min(groups, GROUP_SCRATCH_BYTES // max(1, depth * positions * itemsize)))


def group_windows(padded: np.ndarray, kernel, stride, dilation, groups: int) -> np.ndarray:
    """A view (N, G, C/G, *kernel, *out) of a padded block: [n, g] copied and reshaped to (C/G·Πk, Πout) is
    group g's unfolded (im2col) matrix of sample n."""
    ndim = len(kernel)
    windows = window_view(padded, kernel, stride, dilation, groups)  # (N, G, C/G, *out, *kernel)
    return windows.transpose(0, 1, 2, *range(3 + ndim, 3 + 2 * ndim), *range(3, 3 + ndim))


def run_group_tasks(work: Callable[[int, int], None], tasks: int) -> None:
    """``work(start, stop)`` over a grouped convolution's tasks (a few groups of one sample each): within
    ``single_threaded_blas`` on the pool, each worker taking one task at a time (a zeroed scratch per thread
    and call, ``WorkerScratch``, instead of one per few tasks: 3×3 with 32 groups, forward in loops of
    calls, (4, 128, 56²) 0.96×, (8, 256, 28²) 0.98×, (8, 512, 14²) 0.98×; forward+backward 0.97×), else in
    the calling thread, whose products then run on BLAS's own threads."""
    if getattr(_blas, "limited", False):
        _run_blocks(work, tasks, 1)
    else:
        work(0, tasks)


def conv_im2col_by_groups(
    x: np.ndarray, w: np.ndarray, stride, padding: Pairs, dilation, groups: int, bias: np.ndarray | None = None
) -> np.ndarray:
    """im2col for grouped convolutions, run on the pool one sample's few groups at a time: each task unfolds
    its groups of the padded input into a scratch matrix (C/G·Πk, Πout) per group, small enough to stay in
    cache, and multiplies it by the group's (O/G, C/G·Πk) weights straight into y (+ bias). Against one
    unfold of the whole block followed by its products (``conv_im2col``), whose matrices of small groups are
    written to memory and read back for products of a few rows each (interleaved medians, forward): 3×3 with
    32 groups of 4 channels at 56², batch 4, 19.5 → 14.7 ms; 32 groups of 8 at 28², batch 8, 22.0 → 18.9;
    2 groups of 32 at 56², batch 8, 37.4 → 30.3. Per spatial dim out = floor((lo + size + hi − d·(k − 1) −
    1) / stride) + 1."""
    batch, channels = x.shape[:2]
    out_channels, per_group, *kernel = w.shape
    shape = output_shape(x.shape, w.shape, stride, padding, dilation)
    dtype = np.result_type(x, w)
    if math.prod(shape) == 0 or per_group == 0 or math.prod(kernel) == 0:
        return conv_im2col(x, w, stride, padding, dilation, groups, bias)
    y = np.empty(shape, dtype=dtype)
    depth, positions = per_group * math.prod(kernel), math.prod(shape[2:])
    windows = group_windows(pad_zeros(x.astype(dtype, copy=False), padding), kernel, stride, dilation, groups)
    weights = w.astype(dtype, copy=False).reshape(groups, out_channels // groups, depth)
    target = y.reshape(batch, groups, out_channels // groups, positions)
    biases = grouped_bias(bias, groups)
    per_task = groups_per_task(depth, positions, y.itemsize, groups)
    chunks = math.ceil(groups / per_task)

    def work(start: int, stop: int) -> None:
        scratch = np.empty((per_task, *windows.shape[2:]), dtype=dtype)
        for task in range(start, stop):
            n, chunk = divmod(task, chunks)
            g0, g1 = chunk * per_task, min(groups, (chunk + 1) * per_task)
            columns = scratch[: g1 - g0]
            np.copyto(columns, windows[n, g0:g1])
            group_biases = None if biases is None else biases[g0:g1]
            parallel_matmul(weights[g0:g1], columns.reshape(g1 - g0, depth, positions), target[n, g0:g1], group_biases)

    run_group_tasks(work, batch * chunks)
    return y


# Scratch of one ``conv_grouped_by_column_shifts`` task: a few groups' column-shifted planes of one sample.
COLUMN_SHIFTS_SCRATCH_BYTES = 1 << 21


class ColumnShifts:
    """The layout of ``conv_grouped_by_column_shifts``: per input channel of a sample, the padded plane copied
    kw times, copy dx holding the inputs of tap column dx for every output column (padded column
    o·s_w + dx·d_w at column o), and its rows split by the row stride into phases (padded row j·s_h + r at
    row j of phase r), as (channel, kw, phases, rows, W_out). Tap row dy of output row h reads padded row
    h·s_h + dy·d_h: row h + (dy·d_h) div s_h of phase (dy·d_h) mod s_h. So for each tap row the inputs of all
    H_out·W_out outputs are one run of every (channel, dx) plane, and a group's Cg·kw planes form a matrix
    (Cg·kw × H_out·W_out) in memory, whose rows are one plane apart: a product per tap row with the kernel's
    (O/G × Cg·kw) slice of that row, where the unfold copies all kh·kw taps for one product."""

    def __init__(self, x_shape: Sequence[int], kernel, stride, padding: Pairs, dilation, out: Sequence[int]) -> None:
        height, width = x_shape[2:]
        (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
        (top, _), (left, _) = padding
        out_h, out_w = out
        self.kernel, self.out = (kh, kw), (out_h, out_w)
        offsets = [divmod(dy * dh, sh) for dy in range(kh)]  # (row offset, phase) of each tap row
        self.phases = sorted({phase for _, phase in offsets})
        self.taps = [(offset, self.phases.index(phase)) for offset, phase in offsets]
        self.rows = out_h + max(offset for offset, _ in offsets)
        # per (dx, phase) with any of x's elements: where they go in the plane, and which ones they are
        self.fills = []
        for dx in range(kw):
            columns = phase_slices(width, left, sw, dx * dw, out_w)
            for index, phase in enumerate(self.phases):
                rows = phase_slices(height, top, sh, phase, self.rows)
                if columns is not None and rows is not None:
                    self.fills.append((dx, index, rows[0], columns[0], rows[1], columns[1]))
        self.channel_elements = kw * len(self.phases) * self.rows * out_w

    def buffer(self, groups: int, per_group: int, dtype) -> np.ndarray:
        """Zeros for ``groups`` groups of ``per_group`` channels; the positions of the padding are never
        written, so they stay zero from one block to the next."""
        return np.zeros((groups, per_group, self.kernel[1], len(self.phases), self.rows, self.out[1]), dtype=dtype)

    def fill(self, buffer: np.ndarray, source: np.ndarray) -> None:
        """Copy ``source`` (groups, per group, H, W), a sample's channels, into the first groups of
        ``buffer``."""
        count = source.shape[0]
        for dx, phase, rows, columns, source_rows, source_columns in self.fills:
            buffer[:count, :, dx, phase, rows, columns] = source[:, :, source_rows, source_columns]

    def matrices(self, buffer: np.ndarray, count: int, tap_row: int) -> np.ndarray:
        """The (count, Cg·kw, H_out·W_out) matrices of tap row ``tap_row`` of the first ``count`` groups: a
        view (the (channel, dx) planes are evenly spaced, channel = kw planes)."""
        offset, phase = self.taps[tap_row]
        start = buffer[:count, :, :, phase, offset:]
        plane = buffer.strides[2]
        shape = (count, buffer.shape[1] * buffer.shape[2], self.out[0] * self.out[1])
        return strided_view(start, shape, (buffer.strides[0], plane, buffer.itemsize), writeable=False)


# ``conv_grouped_by_column_shifts`` takes groups whose tap-row products contract over at most this many
# (channel, dx) pairs. Forward against the unfold by groups, 3×3, batch 8, interleaved medians: 4 to 64
# channels a group 0.79–0.94× (32 groups of 4 at 56², batch 4, 0.94×; 2 groups of 64 at 56² 0.85×); 128
# channels a group 0.89× at 28² but 1.09× at 14², 256 at 14² 1.19×, 512 at 7² 1.31×, where the unfold's one
# long contraction runs near BLAS's peak and kh shorter ones with their sums do not.
COLUMN_SHIFTS_MAX_DEPTH = 192


def by_column_shifts(x_shape: Sequence[int], w_shape: Sequence[int], padding: Pairs, groups: int, itemsize: int) -> bool:
    """Whether ``conv_grouped_by_column_shifts`` takes a convolution: 2-d, more than one group of at most
    COLUMN_SHIFTS_MAX_DEPTH (channel, tap column) pairs, no cropping, and one group's planes within a
    worker's share of the workspace."""
    if len(x_shape) != 4 or groups < 2 or any(lo < 0 or hi < 0 for lo, hi in padding):
        return False
    per_group, kw = w_shape[1], w_shape[3]
    if per_group * kw > COLUMN_SHIFTS_MAX_DEPTH:
        return False
    rows = [lo + size + hi for size, (lo, hi) in zip(x_shape[2:], padding)]
    return per_group * kw * rows[0] * rows[1] * itemsize <= WORKSPACE_BYTES // THREADS


def tap_row_kernels(w: np.ndarray, groups: int, dtype) -> np.ndarray:
    """w (O, C/G, kh, kw) as (kh, G, O/G, C/G·kw): per tap row, each group's kernel with (channel, dx) in
    the order of ``ColumnShifts.matrices``."""
    out_channels, per_group, kh, kw = w.shape
    split = w.astype(dtype, copy=False).reshape(groups, out_channels // groups, per_group, kh, kw)
    return np.ascontiguousarray(split.transpose(3, 0, 1, 2, 4)).reshape(kh, groups, out_channels // groups, per_group * kw)


def conv_grouped_by_column_shifts(
    x: np.ndarray, w: np.ndarray, stride, padding: Pairs, dilation, groups: int, bias: np.ndarray | None = None
) -> np.ndarray:
    """A grouped 2-d convolution from column-shifted planes (``ColumnShifts``): each pool task copies a few
    groups of one sample kw times (the unfold of the last axis alone) and multiplies each tap row's
    (Cg·kw × H_out·W_out) matrix by that row's kernel, the kh products summed into y's rows (+ bias). The
    unfold (``conv_im2col_by_groups``) writes kh·kw copies of every input for products of a few rows; these
    planes are kw copies. Per spatial dim out = floor((lo + size + hi − d·(k − 1) − 1) / stride) + 1."""
    batch, channels, height, width = x.shape
    out_channels, per_group, kh, kw = w.shape
    shape = output_shape(x.shape, w.shape, stride, padding, dilation)
    if math.prod(shape) == 0 or per_group == 0:
        return conv_im2col(x, w, stride, padding, dilation, groups, bias)
    dtype = np.result_type(x, w)
    y = np.empty(shape, dtype=dtype)
    layout = ColumnShifts(x.shape, (kh, kw), stride, padding, dilation, shape[2:])
    positions = shape[2] * shape[3]
    kernels = tap_row_kernels(w, groups, dtype)
    target = y.reshape(batch, groups, out_channels // groups, positions)
    source = x.astype(dtype, copy=False).reshape(batch, groups, per_group, height, width)
    biases = grouped_bias(bias, groups)
    group_bytes = per_group * layout.channel_elements * y.itemsize
    per_task = max(1, min(groups, COLUMN_SHIFTS_SCRATCH_BYTES // group_bytes))
    chunks = math.ceil(groups / per_task)

    def make_scratch() -> tuple[np.ndarray, np.ndarray | None]:
        partial = np.empty((per_task, out_channels // groups, positions), dtype=dtype) if kh > 1 else None
        return layout.buffer(per_task, per_group, dtype), partial

    scratches = WorkerScratch(make_scratch)

    def work(start: int, stop: int) -> None:
        buffer, partial = scratches.get()
        for task in range(start, stop):
            n, chunk = divmod(task, chunks)
            g0, g1 = chunk * per_task, min(groups, (chunk + 1) * per_task)
            layout.fill(buffer, source[n, g0:g1])
            out = target[n, g0:g1]
            np.matmul(kernels[0, g0:g1], layout.matrices(buffer, g1 - g0, 0), out=out)
            for tap_row in range(1, kh):
                sums = partial[: g1 - g0]
                np.matmul(kernels[tap_row, g0:g1], layout.matrices(buffer, g1 - g0, tap_row), out=sums)
                out += sums
            if biases is not None:
                out += biases[g0:g1]

    run_group_tasks(work, batch * chunks)
    return y


# Below this many multiply-adds per output channel a convolution is all call overhead: ``conv_im2col_small``
# skips the blocking, the thread pool and the algorithm search.
SMALL_WORK = 1 << 15
# Up to this many elements, ``small_plan`` keeps the column matrix's flat indices into the padded input and
# ``conv_im2col_small`` gathers it with one ``take`` (1.0 against 3.0 µs for the strided view and its
# reshaping copy); the indices (8 bytes each) stay small in the plans' cache.
SMALL_GATHER_MAX = 1 << 10


@functools.lru_cache(maxsize=1024)
def small_plan(
    x_shape: tuple[int, ...], itemsize: int, w_shape: tuple[int, ...], stride, padding, dilation, groups: int
):
    """The shapes ``conv_im2col_small`` needs for one call signature, computed once: how to pad, the
    unfold view (shape and byte strides over the contiguous padded input) or, for a small column matrix,
    its flat indices into that input, the shapes of the column and weight matrices, and y's shape; None when
    the output is empty."""
    batch, channels, *spatial = x_shape
    out_channels, per_group, *kernel = w_shape
    padded = [lo + size + hi for size, (lo, hi) in zip(spatial, padding)]
    out = [(size - d * (k - 1) - 1) // st + 1 for size, k, st, d in zip(padded, kernel, stride, dilation)]
    if min(out, default=1) <= 0 or batch * channels * out_channels * math.prod(padded) * math.prod(kernel) == 0:
        return None
    pitches = [math.prod(padded[d + 1 :]) for d in range(len(padded))]  # in elements
    view_shape = (batch, channels, *kernel, *out)
    view_steps = (
        channels * math.prod(padded),
        math.prod(padded),
        *(pitch * d for pitch, d in zip(pitches, dilation)),
        *(pitch * st for pitch, st in zip(pitches, stride)),
    )
    if groups == 1:  # a 2-d weight matrix: a cheaper product than the broadcast grouped one
        weight_shape, columns_shape = (out_channels, -1), (batch, -1, math.prod(out))
    else:
        weight_shape, columns_shape = (groups, out_channels // groups, -1), (batch, groups, -1, math.prod(out))
    gather = None
    if math.prod(view_shape) <= SMALL_GATHER_MAX:
        positions = np.arange(batch * channels * math.prod(padded), dtype=np.intp)
        step = positions.itemsize
        gather = strided_view(positions, view_shape, tuple(s * step for s in view_steps)).reshape(columns_shape)
    padding_plan = None  # the padded input's shape, x's part inside it and where that part goes
    if any(lo or hi for lo, hi in padding):
        crop, inside, grown = padding_slices(spatial, padding)
        padding_plan = (batch, channels, *grown), (..., *crop), (..., *inside)
    view_strides = tuple(s * itemsize for s in view_steps)
    return padding_plan, view_shape, view_strides, gather, weight_shape, columns_shape, (batch, out_channels, *out)


def _as_tuples(value: object) -> object:
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def conv_im2col_small(
    x: np.ndarray, w: np.ndarray, stride, padding: Pairs, dilation, groups: int, bias: np.ndarray | None = None
) -> np.ndarray:
    """im2col for tiny problems, in as few NumPy calls as possible: the shapes come from ``small_plan``, the
    column matrix is one gather from the (padded, contiguous) input (or, when larger, a strided view of it
    whose reshape to columns makes the one copy), then one matrix product (per group) and the bias."""
    try:
        plan = small_plan(x.shape, x.itemsize, w.shape, stride, padding, dilation, groups)
    except TypeError:  # settings given as lists
        plan = small_plan(x.shape, x.itemsize, w.shape, *(_as_tuples(a) for a in (stride, padding, dilation)), groups)
    if plan is None:
        return conv_im2col(x, w, stride, padding, dilation, groups, bias)
    padding_plan, view_shape, view_strides, gather, weight_shape, columns_shape, y_shape = plan
    if padding_plan is not None:  # two NumPy calls (``pad_zeros``, built for large arrays, takes 20–35 µs here)
        padded_shape, crop, inside = padding_plan
        padded = np.zeros(padded_shape, dtype=x.dtype)
        padded[inside] = x[crop]
        x = padded
    elif not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    if gather is not None:
        columns = x.ravel().take(gather)
    else:
        columns = np.ndarray(view_shape, x.dtype, x, 0, view_strides).reshape(columns_shape)
    y = np.matmul(w.reshape(weight_shape), columns)
    if bias is not None:
        y += bias.reshape(weight_shape[:-1] + (1,))
    return y.reshape(y_shape)


def is_pointwise(w_shape: Sequence[int]) -> bool:
    return all(k == 1 for k in w_shape[2:])


def is_depthwise(x_shape: Sequence[int], w_shape: Sequence[int], groups: int) -> bool:
    return groups > 1 and groups == x_shape[1] and w_shape[1] == 1


def live_taps(spatial: Sequence[int], kernel: Sequence[int], stride, padding: Pairs, dilation) -> list[range]:
    """Per spatial dim, the kernel taps that read an element of x for some output; the others read only
    zero padding. Contiguous, since a tap's reads move with the tap."""
    taps = []
    for size, k, s, (lo, hi), d in zip(spatial, kernel, stride, padding, dilation):
        last_start = (output_extent(lo + size + hi, k, s, d) - 1) * s  # the last output's first read
        live = [t for t in range(k) if t * d - lo <= size - 1 and last_start + t * d - lo >= 0]
        taps.append(range(live[0], live[-1] + 1) if live and last_start >= 0 else range(0))
    return taps


@functools.lru_cache(maxsize=1024)
def without_padding_taps(x_shape: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple):  # noqa: ANN201
    """For a convolution whose kernel has taps that read only zero padding (small inputs: a 3×3 with
    padding 1 on a 1×1 input reads x with its centre tap alone): (the live taps' slices of the kernel, the
    padding that keeps every output in place without the others), else None. Remembered per call signature
    (hashable tuples): a network's layers ask again on every call."""
    taps = live_taps(x_shape[2:], kernel, stride, padding, dilation)
    if all(len(t) == k for t, k in zip(taps, kernel)) or any(len(t) == 0 for t in taps):
        return None
    reduced = [(lo - t.start * d, hi - (k - t.stop) * d) for (lo, hi), t, k, d in zip(padding, taps, kernel, dilation)]
    if any(lo < 0 or hi < 0 for lo, hi in reduced):
        return None
    return tuple(slice(t.start, t.stop) for t in taps), tuple(reduced)


def valid_conv(
    x: np.ndarray,
    w: np.ndarray,
    stride: Sequence[int],
    dilation: Sequence[int],
    groups: int,
    padding: Pairs | None = None,
    bias: np.ndarray | None = None,
    transforms: winograd.KernelTransforms | None = None,
    kept_tiles: winograd.InputTiles | None = None,
) -> np.ndarray:
    """The convolution of x (zero-padded by ``padding``) with w, plus ``bias`` (O,) per output channel when
    given, by the algorithm suited to the shapes; ``transforms`` keeps (or supplies) a Winograd kernel
    transform between a forward pass and its input gradient, ``kept_tiles`` a Winograd forward's transformed
    input for its weight gradient."""
    stride, dilation = tuple(stride), tuple(dilation)
    padding = [(0, 0)] * (x.ndim - 2) if padding is None else [tuple(pair) for pair in padding]
    from . import fft

    if fft.applies(x.shape, w.shape, stride, padding, dilation, groups, np.result_type(x, w)):
        return fft.conv_fft(x, w, stride, padding, dilation, groups, bias)
    if is_depthwise(x.shape, w.shape, groups):
        return conv_depthwise(x, w, stride, padding, dilation, bias)
    if is_pointwise(w.shape):
        return conv_pointwise(x, w, stride, padding, groups, bias)
    from . import winograd

    if by_dense_map(x.shape, w.shape, groups, output_shape(x.shape, w.shape, stride, padding, dilation), x.itemsize):
        return conv_dense_map(x, w, stride, padding, dilation, bias)
    if winograd.applies(x.shape, w.shape, stride, dilation, groups, padding, np.result_type(x, w)):
        return winograd.conv_winograd(x, w, padding, bias, transforms, kept_tiles)
    if winograd.applies_by_phases(x.shape, w.shape, stride, dilation, groups, padding, np.result_type(x, w)):
        return winograd.conv_winograd_dilated(x, w, padding, dilation, bias, transforms, kept_tiles)
    from . import winograd_stride2

    if winograd_stride2.applies_downsampling(x.shape, w.shape, stride, padding, dilation, groups, np.result_type(x, w)):
        remember = transforms is not None and transforms.remember
        return winograd_stride2.conv_winograd_downsampling(x, w, padding, bias, remember)
    if by_column_shifts(x.shape, w.shape, padding, groups, x.itemsize):
        return conv_grouped_by_column_shifts(x, w, stride, padding, dilation, groups, bias)
    if unfolds_by_groups(w.shape, output_shape(x.shape, w.shape, stride, padding, dilation), groups, x.itemsize):
        return conv_im2col_by_groups(x, w, stride, padding, dilation, groups, bias)
    return conv_im2col(x, w, stride, padding, dilation, groups, bias)


# ------------------------------------------------------------------------------ lhs dilation (polyphase)


def polyphase_plan(
    size: int, out: int, kernel: int, stride: int, lo: int, lhs_dilation: int, rhs_dilation: int
) -> tuple[int, list[tuple[int, slice, int, int, tuple[int, int]]]]:
    """Split one dim of a convolution of a zero-stuffed input into phases that skip the zeros.

    Output o reads stuffed position o·stride + k·rhs_dilation − lo, which holds input element
    (o·stride + k·rhs_dilation − lo) / lhs_dilation when that is a whole number in [0, size). Outputs
    o = r + period·j (period = lhs_dilation / gcd(stride, lhs_dilation)) hit non-zeros with the same taps
    k = k0 + tap_step·m. Returns ``period`` and, per phase r with any output, (r, the tap slice, the input
    stride and dilation of that phase's ordinary convolution, its (lo, hi) padding of the unstuffed input)."""
    period = lhs_dilation // math.gcd(stride, lhs_dilation)
    tap_step = lhs_dilation // math.gcd(rhs_dilation, lhs_dilation)
    input_stride = period * stride // lhs_dilation
    input_dilation = tap_step * rhs_dilation // lhs_dilation
    phases = []
    for r in range(min(period, out)):
        count = len(range(r, out, period))
        first_tap = next(
            (k for k in range(min(tap_step, kernel)) if (r * stride + k * rhs_dilation - lo) % lhs_dilation == 0), None
        )
        if first_tap is None:
            phases.append((r, slice(0, 0), input_stride, input_dilation, (0, 0)))
            continue
        taps = len(range(first_tap, kernel, tap_step))
        start = (r * stride + first_tap * rhs_dilation - lo) // lhs_dilation
        last = start + (taps - 1) * input_dilation + (count - 1) * input_stride
        phases.append(
            (r, slice(first_tap, kernel, tap_step), input_stride, input_dilation, (-start, last - (size - 1)))
        )
    return period, phases


def conv_polyphase(
    x: np.ndarray,
    w: np.ndarray,
    stride,
    padding: Pairs,
    lhs_dilation,
    rhs_dilation,
    groups: int,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """The convolution of x stuffed with lhs_dilation − 1 zeros between elements (+ bias), as one ordinary
    convolution per output phase (Πperiod of them) with the taps that meet real input — transposed
    convolutions become sub-pixel convolutions with no multiply by an inserted zero."""
    spatial = x.shape[2:]
    kernel = w.shape[2:]
    stuffed = [(size - 1) * d + 1 if size else 0 for size, d in zip(spatial, lhs_dilation)]
    out = [
        max(output_extent(lo + s + hi, k, st, rd), 0)
        for s, (lo, hi), k, st, rd in zip(stuffed, padding, kernel, stride, rhs_dilation)
    ]
    y = np.empty((x.shape[0], w.shape[0], *out), dtype=np.result_type(x, w))
    if y.size == 0:
        return y
    plans = [
        polyphase_plan(size, o, k, st, lo, ld, rd)
        for size, o, k, st, (lo, _), ld, rd in zip(spatial, out, kernel, stride, padding, lhs_dilation, rhs_dilation)
    ]
    periods = [period for period, _ in plans]
    depthwise_phases, regular_phases = [], []
    for phase in product(*(phases for _, phases in plans)):
        target = y[(slice(None), slice(None), *(slice(r, None, period) for (r, *_), period in zip(phase, periods)))]
        sub_kernel = w[(slice(None), slice(None), *(taps for _, taps, *_ in phase))]
        if sub_kernel.size == 0 or x.shape[1] == 0:
            target[...] = 0 if bias is None else bias.reshape(-1, *([1] * len(kernel)))
        elif is_depthwise(x.shape, sub_kernel.shape, groups):
            depthwise_phases.append((target, phase))
        else:
            regular_phases.append((target, np.ascontiguousarray(sub_kernel), phase))
    if len(regular_phases) > 1:
        # the phases' paddings differ by an element or two: x is padded once, by the largest of them, and
        # each phase convolves its window of that copy (transposed k4 s2 p1, 64 → 128 channels at 16², batch
        # 16: one padded copy instead of four, forward 30.6 → 28.3 ms)
        shared = [
            (max(0, *(phase[axis][4][0] for *_, phase in regular_phases)), max(0, *(phase[axis][4][1] for *_, phase in regular_phases)))
            for axis in range(len(kernel))
        ]
        padded = pad_zeros(x, shared)
    for target, sub_kernel, phase in regular_phases:
        strides = tuple(s for *_, s, _, _ in phase)
        dilations = tuple(d for *_, d, _ in phase)
        pads = [pair for *_, pair in phase]
        if len(regular_phases) > 1:
            window = tuple(slice(low - lo, low + size + hi) for size, (low, _), (lo, hi) in zip(spatial, shared, pads))
            source, pads = padded[(slice(None), slice(None), *window)], None
        else:
            source = x
        target[...] = valid_conv(source, sub_kernel, strides, dilations, groups, pads, bias)
    if depthwise_phases:  # all phases from one copy of the input, straight into their strided positions
        # the phases share one padding (the largest), each tap's offset shifted by the difference to its own
        lows = [max(phase[axis][4][0] for _, phase in depthwise_phases) for axis in range(len(kernel))]
        outputs = []
        for target, phase in depthwise_phases:
            taps = []
            for tap in product(*(range(k)[tap_slice] for (_, tap_slice, *_), k in zip(phase, kernel))):
                offset = tuple(
                    low - lo + (k - tap_slice.start) // tap_slice.step * dilation
                    for k, low, (_, tap_slice, _, dilation, (lo, _)) in zip(tap, lows, phase)
                )
                taps.append((int(np.ravel_multi_index(tap, kernel)), offset))
            outputs.append((target, taps))
        strides = tuple(phase_stride for _, _, phase_stride, _, _ in depthwise_phases[0][1])
        depthwise_by_phases(x, depthwise_weights(w, x.shape[1], y.dtype), strides, lows, outputs, bias)
    return y


# ``conv_stacked_phases`` takes a transposed convolution when its windows cover at most this many times the
# positions each output phase needs (the phases' windows are offset by an element, so their union has one
# more window per axis than a phase: 17² windows for 16² outputs per phase in DCGAN's k4 s2 p1 at 16²).
STACKED_PHASES_MAX_WASTE = 1.15
# Each task's product has at least this many columns: several samples side by side when their windows are
# few.
STACKED_PHASES_COLUMNS = 2048
# The product's rows (phases × output channels) from which the stacked phases pay, and a batch: a single
# sample, or few rows (3 output channels of a k4 s2 p1: 12 rows), went faster through col2im's one product
# and scatter.
STACKED_PHASES_MIN_ROWS = 64


def stacked_phases_plan(x_shape: Sequence[int], w_shape: Sequence[int], padding: Pairs, lhs_dilation) -> list | None:
    """Per axis, for ``conv_stacked_phases``: (s, T, first window, window count, [(phase r, its taps as a
    slice, its first window, its output count)]), or None when some axis's phases do not all have T =
    kernel / s taps or some phase has no output."""
    plans = []
    for size, k, (lo, hi), s in zip(x_shape[2:], w_shape[2:], padding, lhs_dilation):
        if k % s or size == 0:
            return None
        out = output_extent(lo + (size - 1) * s + 1 + hi, k, 1, 1)
        if out < s:
            return None
        period, phases = polyphase_plan(size, out, k, 1, lo, s, 1)
        entries = []
        for r, taps, _, _, (low, _) in phases:
            count = len(range(r, out, period))
            entries.append((r, taps, -low, count))
        first = min(start for _, _, start, _ in entries)
        last = max(start + count - 1 for _, _, start, count in entries)
        plans.append((s, k // s, first, last - first + 1, entries))
    return plans


def applies_stacked_phases(x_shape, w_shape, stride, padding: Pairs, lhs_dilation, rhs_dilation, groups: int) -> bool:  # noqa: ANN001
    """Whether ``conv_stacked_phases`` takes a convolution of a zero-stuffed input: stride 1, no rhs dilation,
    one group, lhs dilation on some axis, each axis's kernel a multiple of its lhs dilation (every output
    phase meets kernel / s taps) of at least two taps a phase somewhere, at least one output per phase, and
    the phases' common windows at most STACKED_PHASES_MAX_WASTE times the positions one phase needs."""
    if groups != 1 or x_shape[0] < 2 or any(s != 1 for s in stride) or any(d != 1 for d in rhs_dilation):
        return False
    if all(d == 1 for d in lhs_dilation) or all(k == d for k, d in zip(w_shape[2:], lhs_dilation)):
        return False
    if w_shape[0] * math.prod(lhs_dilation) < STACKED_PHASES_MIN_ROWS:
        return False
    plans = stacked_phases_plan(x_shape, w_shape, padding, lhs_dilation)
    if plans is None:
        return False
    needed = math.prod(max(count for *_, count in entries) for *_, entries in plans)
    return math.prod(windows for _, _, _, windows, _ in plans) <= STACKED_PHASES_MAX_WASTE * needed


def stacked_phase_kernel(w: np.ndarray, phase_taps: list, taps: tuple, dtype) -> np.ndarray:
    """The (P·O × C·ΠT) matrix of ``conv_stacked_phases``: row (p, o), column (c, *t) is w[o, c, *(the t-th
    tap of phase p's tap slice per axis)]. w may be a view with flipped kernel axes and its channel axes
    exchanged, as a transposed convolution's kernel arrives (``primitive.flip_and_swap_channels``): the taps
    are then copied from the weights in their own memory order, one (C, O) slab per phase and tap, into a
    (C, *T, P, O) array whose transposed view is the matrix (256 → 128 channels, 4×4: 0.8 ms, where one
    gather by index arrays took 4)."""
    out_channels, channels, *kernel = w.shape
    base, flipped, exchanged = in_memory_order(w)
    count, width = len(phase_taps), math.prod(taps)
    flat = []  # per phase, base's flat kernel index of each of its taps (C order over T)
    for slices in phase_taps:
        per_axis = [np.array(range(k)[part]) for k, part in zip(kernel, slices)]
        per_axis = [k - 1 - index if axis + 2 in flipped else index for axis, (index, k) in enumerate(zip(per_axis, kernel))]
        flat.append(np.ravel_multi_index(np.meshgrid(*per_axis, indexing="ij"), kernel).ravel())
    if exchanged:
        source = base.swapaxes(0, 1).reshape(channels, out_channels, -1)  # (C, O, Πk): the weights' own order
        gathered = np.empty((channels, width, count, out_channels), dtype=dtype)
        for p, indices in enumerate(flat):
            for t, index in enumerate(indices):
                gathered[:, t, p] = source[:, :, index]
        return gathered.reshape(channels * width, count * out_channels).T
    source = base.reshape(out_channels, channels, -1)
    gathered = np.empty((count, out_channels, channels, width), dtype=dtype)
    for p, indices in enumerate(flat):
        for t, index in enumerate(indices):
            gathered[p, :, :, t] = source[:, :, index]
    return gathered.reshape(count * out_channels, channels * width)


def conv_stacked_phases(
    x: np.ndarray, w: np.ndarray, padding: Pairs, lhs_dilation, bias: np.ndarray | None = None
) -> np.ndarray:
    """The convolution of x stuffed with s − 1 zeros between elements (+ bias) when every output phase meets
    T = kernel / s taps per axis (``applies_stacked_phases``): output phase r reads the T inputs from its
    window start (r's first window + m for its m-th output) with taps r's tap slice, so all Πs phases are
    one product of the (Πs·O × C·ΠT) stacked phase kernels with the unfolded T-windows of x, each phase's
    outputs read from its offset windows and written into y's strided positions. The phases' windows are
    offset from each other by up to an element per axis: the product covers their union (DCGAN's k4 s2 p1
    at 16²: 17² windows, 13 % more multiplies than the phases need). A batch on the pool in tasks of a
    few samples side by side (at least STACKED_PHASES_COLUMNS columns)."""
    batch, channels, *spatial = x.shape
    out_channels, _, *kernel = w.shape
    plans = stacked_phases_plan(x.shape, w.shape, padding, lhs_dilation)
    out = [max(r + s * (count - 1) + 1 for r, _, _, count in entries) for s, _, _, _, entries in plans]
    dtype = np.result_type(x, w)
    y = np.empty((batch, out_channels, *out), dtype=dtype)
    if y.size == 0:
        return y
    taps = tuple(t for _, t, _, _, _ in plans)
    windows = tuple(count for _, _, _, count, _ in plans)
    phases = list(product(*(entries for *_, entries in plans)))
    stacked = stacked_phase_kernel(w, [[tap_slice for _, tap_slice, _, _ in phase] for phase in phases], taps, dtype)
    # x padded (or cropped) so that window u of an axis reads positions first + u … first + u + T − 1
    pads = [(-first, first + count + t - 1 - size) for size, (_, t, first, count, _) in zip(spatial, plans)]
    width = math.prod(windows)
    samples = max(1, min(batch, -(-STACKED_PHASES_COLUMNS // width)))
    if on_the_pool() and batch > 1:
        samples = min(samples, -(-batch // THREADS))
    tasks = -(-batch // samples)
    biases = None if bias is None else bias.astype(dtype, copy=False).reshape(-1, *([1] * len(spatial)))

    def work(start: int, stop: int) -> None:
        for task in range(start, stop):
            n0, n1 = task * samples, min(batch, (task + 1) * samples)
            block = pad_zeros(x[n0:n1].astype(dtype, copy=False), pads)
            columns = unfold(block, taps, (1,) * len(taps), (1,) * len(taps), side_by_side=True)
            products = parallel_matmul(stacked, columns.reshape(channels * math.prod(taps), -1))
            products = products.reshape(len(phases), out_channels, n1 - n0, *windows)
            for index, phase in enumerate(phases):
                target = y[(slice(n0, n1), slice(None), *(slice(r, None, s) for (r, *_), (s, *_) in zip(phase, plans)))]
                source = products[(index, slice(None), slice(None), *(
                    slice(start_ - first, start_ - first + count) for (_, _, start_, count), (_, _, first, _, _) in zip(phase, plans)
                ))].swapaxes(0, 1)
                if biases is None:
                    np.copyto(target, source)
                else:
                    np.add(source, biases, out=target)

    if on_the_pool() and tasks > 1:
        _run_blocks(work, tasks, 1)
    else:
        work(0, tasks)
    return y


def prefers_col2im(x_shape: Sequence[int], w_shape: Sequence[int], stride: Sequence[int], groups: int) -> bool:
    """Whether a convolution of a zero-stuffed input is cheaper by ``conv_col2im`` than by ``conv_polyphase``:
    col2im needs stride 1 and scatters O·Πk values per input element where polyphase gathers C·Πk, so it
    wins when O ≤ C — except depthwise, whose phases are cheap shifted multiply-adds."""
    return all(s == 1 for s in stride) and w_shape[0] <= x_shape[1] and not is_depthwise(x_shape, w_shape, groups)


def conv_col2im(
    x: np.ndarray,
    w: np.ndarray,
    padding: Pairs,
    lhs_dilation,
    rhs_dilation,
    groups: int,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """Stride 1 with lhs dilation D (a transposed convolution with stride D): every input element scatters
    into the output, which starts as the bias (or zeros). One product (G, O/G·Πk, C/G) × (n, G, C/G, Πin)
    gives each input's contribution per tap; tap k's plane is then added at output positions
    D·i + lo − k·rhs_dilation (col2im). Its work is the gather-free dual of ``conv_polyphase``: cheaper when
    O ≤ C."""
    batch, channels, *spatial = x.shape
    out_channels, per_group, *kernel = w.shape
    stuffed = [(size - 1) * d + 1 for size, d in zip(spatial, lhs_dilation)]
    out = [
        max(output_extent(lo + s + hi, k, 1, rd), 0)
        for s, (lo, hi), k, rd in zip(stuffed, padding, kernel, rhs_dilation)
    ]
    dtype = np.result_type(x, w)
    # every output starts as its channel's bias: where inputs land it is added to their sum, and positions that
    # no input reaches keep it
    start_value = (
        np.zeros((out_channels,) + (1,) * len(out), dtype) if bias is None else bias.reshape(-1, *([1] * len(out)))
    )
    y = np.empty((batch, out_channels, *out), dtype=dtype)
    if y.size == 0 or x.size == 0:
        y[...] = start_value
        return y
    taps = math.prod(kernel)
    out_per_group = out_channels // groups
    ndim = len(kernel)
    # (G, O/G·taps, C/G): a transposed view of a transposed convolution's own weights, whose kernel arrives
    # flipped with its channel axes exchanged (``primitive.flip_and_swap_channels``); the product's rows then
    # come in the unflipped taps' order, flipped back as a view below (512 → 256 channels, 4×4: a 16 ms
    # copy of the kernel into place saved on every call). A copy for other layouts.
    base, flipped, _ = in_memory_order(w)
    weights = base.reshape(groups, out_per_group, per_group, taps).transpose(0, 1, 3, 2)
    weights = weights.reshape(groups, out_per_group * taps, per_group)
    # per dim and tap index: the input range that lands inside the output, and where it lands
    placements = []
    for size, o, k, (lo, _), d, rd in zip(spatial, out, kernel, padding, lhs_dilation, rhs_dilation):
        per_tap = []
        for tap in range(k):
            start = lo - tap * rd
            first = max(0, -(start // d)) if start < 0 else 0
            last = min(size, (o - 1 - start) // d + 1) if o - 1 - start >= 0 else 0
            per_tap.append(
                (slice(first, last), slice(start + first * d, start + (last - 1) * d + 1, d)) if last > first else None
            )
        placements.append(per_tap)
    sample_bytes = out_channels * taps * math.prod(spatial) * x.itemsize
    # Taps that land on the same output phase (position mod D) add into one dense buffer, so the adds are
    # contiguous; each phase is then written once into its strided positions of y.
    by_phase: dict[tuple[int, ...], list[tuple[tuple, list]]] = {}
    for tap in product(*(range(k) for k in kernel)):
        places = [per_tap[index] for per_tap, index in zip(placements, tap)]
        if any(place is None for place in places):
            continue
        phase = tuple(place[1].start % d for place, d in zip(places, lhs_dilation))
        by_phase.setdefault(phase, []).append((tap, places))
    phase_extents = {phase: [len(range(r, o, d)) for r, o, d in zip(phase, out, lhs_dilation)] for phase in by_phase}
    # y needs its start value written first only where some position is reached by no input
    covered = math.prod(min(d, o) for d, o in zip(lhs_dilation, out)) == len(by_phase) and all(
        len(contributions) > 1
        or all(
            len(range(*place[1].indices(o))) == n for place, o, n in zip(contributions[0][1], out, phase_extents[phase])
        )
        for phase, contributions in by_phase.items()
    )
    if not covered:
        y[...] = start_value
    # phases no larger than the input: their taps add into a buffer of the input's extent by flat shifts
    flat_phases = {
        phase for phase, extents in phase_extents.items() if all(e <= size for e, size in zip(extents, spatial))
    }
    pitches = [math.prod(spatial[d + 1 :]) for d in range(ndim)]

    def add_by_flat_shifts(planes, contributions, phase, n0: int, n1: int, c0: int, c1: int, part, start_part) -> None:
        """The phase's taps summed in a (channels, samples·Πin) buffer, each tap's plane added at one flat
        offset (Σ offset·pitch) as a single long run per channel, then written to the phase's positions of
        y. The plane's elements that land outside the phase are zeroed first (the product is scratch), so
        what the flat shift carries across a row, plane or sample boundary adds nothing. Against one add per
        tap over the sources' short rows (DCGAN's 4×4 stride 2 at 16², 128 → 64 channels, batch 16): the
        scatter 7.2 → 5.4 ms, the forward 25.8 → 22.4 ms (in-process, alternating)."""
        count = n1 - n0
        dense = np.empty((c1 - c0, count * math.prod(spatial)), dtype=dtype)
        dense[...] = start_part.reshape(c1 - c0, 1)
        length = dense.shape[1]
        for tap, places in contributions:
            plane = planes[(slice(c0, c1), *tap, slice(n0, n1))]  # (c, n, *in)
            shift = 0
            for axis, (place, lhs, pitch) in enumerate(zip(places, lhs_dilation, pitches)):
                kept = place[0]
                lead = (slice(None),) * (2 + axis)
                plane[(*lead, slice(0, kept.start))] = 0
                plane[(*lead, slice(kept.stop, None))] = 0
                shift += (place[1].start // lhs - kept.start) * pitch
            flat = plane.reshape(c1 - c0, length)
            if shift >= 0:
                dense[:, shift:] += flat[:, : length - shift]
            else:
                dense[:, :shift] += flat[:, -shift:]
        extents = phase_extents[phase]
        sums = dense.reshape(c1 - c0, count, *spatial)[(slice(None), slice(None), *(slice(0, e) for e in extents))]
        part[(slice(None), slice(None), *(slice(r, None, d) for r, d in zip(phase, lhs_dilation)))] = sums.swapaxes(0, 1)

    def samples(start: int, stop: int) -> None:
        # samples side by side in the columns of one product: (G, C/G, n·Πin); BLAS is faster on wide products
        inputs = x[start:stop].reshape(stop - start, groups, per_group, -1).transpose(1, 2, 0, 3)
        inputs = np.ascontiguousarray(inputs).reshape(groups, per_group, -1)
        columns = parallel_matmul(weights, inputs).reshape(out_channels, *kernel, stop - start, *spatial)
        if flipped:
            columns = np.flip(columns, axis=tuple(axis - 1 for axis in flipped))  # taps in w's order again
        planes = columns  # (O, *k, n, *in): each tap's plane of all samples is one run per channel
        columns = np.moveaxis(columns, 1 + ndim, 0)  # a view (n, O, *k, *in)
        target = y[start:stop]

        def scatter(n0: int, n1: int, c0: int, c1: int) -> None:  # samples n0 … n1 − 1, channels c0 … c1 − 1
            part, start_part = target[n0:n1, c0:c1], start_value[c0:c1]
            for phase, contributions in by_phase.items():
                if len(contributions) > 1 and phase in flat_phases:
                    add_by_flat_shifts(planes, contributions, phase, n0, n1, c0, c1, part, start_part)
                    continue
                sources = [
                    (columns[(slice(n0, n1), slice(c0, c1), *tap, *(place[0] for place in places))], places)
                    for tap, places in contributions
                ]
                if len(sources) == 1:
                    source, places = sources[0]
                    np.add(source, start_part, out=part[(slice(None), slice(None), *(place[1] for place in places))])
                    continue
                dense = np.empty((n1 - n0, c1 - c0, *phase_extents[phase]), dtype=dtype)
                dense[...] = start_part
                for source, places in sources:
                    offsets = [place[1].start // d for place, d in zip(places, lhs_dilation)]
                    dense[
                        (slice(None), slice(None), *(slice(o, o + n) for o, n in zip(offsets, source.shape[2:])))
                    ] += source
                part[(slice(None), slice(None), *(slice(r, None, d) for r, d in zip(phase, lhs_dilation)))] = dense

        # split over the channels, or over the samples when they share out more evenly between the workers
        # (the stem's input gradient, 3 channels of 4 samples: by channels two workers did 2 and 1)
        count = stop - start
        if even_share(count) > even_share(out_channels):
            parallel_channels(lambda n0, n1: scatter(n0, n1, 0, out_channels), count)
        else:
            parallel_channels(lambda c0, c1: scatter(0, count, c0, c1), out_channels)

    step = _samples_per_block(batch, sample_bytes)
    for start in range(0, batch, step):
        samples(start, min(batch, start + step))
    return y


# ------------------------------------------------------------------------------------------ weight gradient


def grad_weight_pointwise(
    x: np.ndarray, g: np.ndarray, stride, padding: Pairs, groups: int, bias: np.ndarray | None = None
) -> np.ndarray:
    """dW for a 1×…×1 kernel: dW[g] = Σ_n g[n, g] · x[n, g]ᵀ over the positions each output reads, summed by
    ``sum_over_samples`` (on the pool, whole samples per worker, each product with the larger channel count
    as its rows: dWᵀ[g] += x[n, g] · g[n, g]ᵀ when there are more input channels)."""
    x = pad_zeros(x, padding)
    x = x[(..., *(slice(0, s * (o - 1) + 1, s) for s, o in zip(stride, g.shape[2:])))]
    batch, channels = x.shape[:2]
    out_channels = g.shape[1]
    grads = g.reshape(batch, groups, out_channels // groups, -1)
    transposed = getattr(_blas, "limited", False) and channels > out_channels
    per_in, per_out = channels // groups, out_channels // groups
    positions = math.prod(g.shape[2:])
    shape = (groups, per_in, per_out) if transposed else (groups, per_out, per_in)

    def add_block(start: int, stop: int, partial: np.ndarray) -> None:
        columns = x[start:stop].reshape(stop - start, groups, per_in, -1)  # a copy if x is strided
        if positions < SIDE_BY_SIDE_MAX:  # the block's samples side by side: one contraction over all
            wide_columns = np.ascontiguousarray(columns.transpose(1, 2, 0, 3)).reshape(groups, per_in, -1)
            wide_grads = np.ascontiguousarray(grads[start:stop].transpose(1, 2, 0, 3)).reshape(groups, per_out, -1)
            if transposed:
                partial += parallel_matmul(wide_columns, wide_grads.swapaxes(-1, -2))
            else:
                partial += parallel_matmul(wide_grads, wide_columns.swapaxes(-1, -2))
            return
        for n in range(stop - start):
            if transposed:
                partial += parallel_matmul(columns[n], grads[start + n].swapaxes(-1, -2))
            else:
                partial += parallel_matmul(grads[start + n], columns[n].swapaxes(-1, -2))

    sample_bytes = channels * math.prod(g.shape[2:]) * x.itemsize
    sums = None if bias is None else (g, bias)
    result = sum_over_samples(batch, sample_bytes, shape, np.result_type(x, g), add_block, sums)
    if transposed:
        result = np.ascontiguousarray(result.swapaxes(-1, -2))
    return result.reshape(out_channels, channels // groups, *([1] * (x.ndim - 2)))


def grad_weight_depthwise_in_place(x: np.ndarray, g: np.ndarray, kernel, padding: Pairs, dilation) -> np.ndarray | None:
    """dW for one input channel per group, stride 1, g of x's shape, in 1-d or 2-d, straight from x and g
    (no copies of whole planes; None when some tap reads padding only). Tap t's sum Σ g[i] · x[i + shift_t]
    runs over the flat positions whose read stays inside the plane: over the range all taps share as one
    product call per block of channels (each (sample, channel) row pair read once from memory for all its
    taps), plus the few positions at either end of each tap's own range, taken from copies of the planes'
    first and last positions. In 2-d a read that crosses a row end belongs to the zero padding: those
    products (|dx| columns per tap) are subtracted again, from copies of the few columns involved, gathered
    once for all taps (against a strided pass over the whole block per tap and column: 56², 144 channels,
    batch 8, 11.4 → 8.3 ms; 112², 96 channels, 20.6 → 15.9 ms). The work is memory-bound, and reading x and
    g once instead of copying both into padded buffers first pays for planes of at least IN_PLACE_MIN_PLANE
    elements."""
    batch, channels, *spatial = x.shape
    multiplier = g.shape[1] // channels
    plane = math.prod(spatial)
    pitches = [math.prod(spatial[d + 1 :]) for d in range(len(spatial))]
    taps = list(product(*(range(k) for k in kernel)))
    offsets = [tuple(k * d - lo for k, d, (lo, _) in zip(tap, dilation, padding)) for tap in taps]
    if any(abs(o) >= size for offset in offsets for o, size in zip(offset, spatial)):
        return None
    shifts = [sum(o * pitch for o, pitch in zip(offset, pitches)) for offset in offsets]
    ranges = [(max(0, -shift), min(plane, plane - shift)) for shift in shifts]
    first, last = max(lo for lo, _ in ranges), min(hi for _, hi in ranges)
    if last <= first:
        return None
    dtype = np.result_type(x, g)
    rows = x.reshape(batch, channels, 1, plane)
    grads = g.reshape(batch, channels, multiplier, plane)
    sums = np.zeros((channels, multiplier, len(taps)), dtype=dtype)
    itemsize, width = rows.itemsize, spatial[-1]
    tap_strides = [d * pitch * itemsize for d, pitch in zip(dilation, pitches)]
    # x's positions that the ends of the taps' ranges read: before first + the largest shift, from last + the
    # smallest one on
    head, tail = max(0, first + max(shifts)), max(0, last + min(shifts))
    # In 2-d, per tap and g column whose products wrap around a row end: (tap, g's column, the x column it
    # reads, g's rows top … bottom − 1, x's first row read)
    wraps = []
    if len(spatial) == 2:
        for index, (shift, (lo, hi)) in enumerate(zip(shifts, ranges)):
            dx = offsets[index][-1]
            for column in range(0, -dx) if dx < 0 else range(width - dx, width):
                top = -((column - lo) // width)  # first row whose position in this column is ≥ lo
                bottom = (hi - 1 - column) // width + 1
                if bottom > top:
                    read = top * width + column + shift
                    wraps.append((index, column, read % width, top, bottom, read // width))
    columns = sorted({wrap[1] for wrap in wraps} | {wrap[2] for wrap in wraps})
    column_index = {column: k for k, column in enumerate(columns)}

    def work(c0: int, c1: int) -> None:
        # the shared range: every tap's shifted rows as one view (n, c, *kernel, length, 1)
        start = first + shifts[0]  # tap (0, …, 0) has the smallest shift
        shifted = strided_view(
            rows[:, c0:c1, 0, start:],
            (batch, c1 - c0, *kernel, last - first, 1),
            (rows.strides[0], rows.strides[1], *tap_strides, itemsize, itemsize),
            writeable=False,
        )
        block = grads[:, c0:c1, :, first:last].reshape(batch, c1 - c0, *([1] * len(kernel)), multiplier, -1)
        products = np.matmul(block, shifted).sum(axis=0)  # (c, *kernel, m, 1)
        part = sums[c0:c1]
        part += products.reshape(c1 - c0, len(taps), multiplier).transpose(0, 2, 1)
        # each tap's own range beyond the shared one, from copies of the planes' first and last positions
        grad_head = np.ascontiguousarray(grads[:, c0:c1, :, :first])
        grad_tail = np.ascontiguousarray(grads[:, c0:c1, :, last:])
        x_head = np.ascontiguousarray(rows[:, c0:c1, :, :head])
        x_tail = np.ascontiguousarray(rows[:, c0:c1, :, tail:])
        for index, (shift, (lo, hi)) in enumerate(zip(shifts, ranges)):
            if first > lo:
                reads = x_head[..., lo + shift : first + shift]
                part[:, :, index] += np.einsum("ncmr,ncmr->cm", grad_head[..., lo:first], reads)
            if hi > last:
                reads = x_tail[..., last + shift - tail : hi + shift - tail]
                part[:, :, index] += np.einsum("ncmr,ncmr->cm", grad_tail[..., : hi - last], reads)
        if not wraps:
            return
        grad_columns = grads[:, c0:c1].reshape(batch, c1 - c0, multiplier, -1, width)[..., columns]
        x_columns = rows[:, c0:c1, 0].reshape(batch, c1 - c0, -1, width)[..., columns]
        for index, column, read_column, top, bottom, read_top in wraps:
            wrapped = np.einsum(
                "ncmr,ncr->cm",
                grad_columns[..., top:bottom, column_index[column]],
                x_columns[..., read_top : read_top + bottom - top, column_index[read_column]],
            )
            part[:, :, index] -= wrapped

    _run_blocks(work, channels, max(1, math.ceil(channels / THREADS)))
    return sums.reshape(channels * multiplier, 1, *kernel)


def grad_weight_depthwise(x: np.ndarray, g: np.ndarray, kernel, stride, padding: Pairs, dilation) -> np.ndarray:
    """dW for one input channel per group: per tap, Σ over batch and positions of g · the shifted plane.

    x is laid out by ``StridePhases`` as in ``depthwise_by_phases``, and g at the same pitch (zeros in the
    positions it does not reach), so that each tap's sum is one long dot product per channel over all the
    block's samples: few, long BLAS calls. With stride 2 along the last axis x is laid out by
    ``PairedPhases`` and the two taps that read one complex element (last-axis offsets 2k and 2k + 1) come
    from one product of g with its (real, imaginary) pairs (MobileNet 3×3 stride 2 at 56², 144 channels,
    batch 8, calls back to back: 9.9 → 9.2 ms, CPU time of both threads 16.0 → 12.4 ms; 112², 32
    channels: 8.6 → 7.6 ms)."""
    batch, channels, *spatial = x.shape
    out_channels = g.shape[1]
    multiplier = out_channels // channels
    taps = list(product(*(range(k) for k in kernel)))
    dtype = np.result_type(x, g)
    grads = g.reshape(batch, channels, multiplier, *g.shape[2:])
    out = g.shape[2:]
    tap_offsets = [tuple(k * d for k, d in zip(tap, dilation)) for tap in taps]
    paired = pairs_last_axis(stride, x.dtype) and x.dtype == g.dtype
    if paired:  # per tap: the complex element it reads (an index into ``elements``) and which part
        reads = [paired_element(offset) for offset in tap_offsets]
        elements = list(dict.fromkeys(element for element, _ in reads))
        parts = [(elements.index(element), part) for element, part in reads]
    else:
        elements = tap_offsets
    layout = (PairedPhases if paired else StridePhases)(
        spatial,
        [lo for lo, _ in padding],
        stride,
        [(out, elements)],
        lambda plane: max(1, min(batch, DEPTHWISE_GRAD_BLOCK // (plane * multiplier))),
    )
    plane, samples, length = layout.plane, layout.samples, layout.length(out)
    per_block = max(1, min(channels, DEPTHWISE_GRAD_BLOCK // (samples * plane * multiplier * (2 if paired else 1))))
    shifts = [layout.shift(offset) for offset in elements]
    blocks = [(n0, c0) for n0 in range(0, batch, samples) for c0 in range(0, channels, per_block)]
    partial = np.zeros((math.ceil(batch / samples), channels, multiplier, len(taps)), dtype=dtype)
    valid = tuple(slice(0, o) for o in out)
    channel_first = (1, 2, 0, *range(3, 3 + len(out)))  # (sample, channel, m, …) → (channel, m, sample, …)

    def make_scratch() -> tuple[np.ndarray, np.ndarray]:
        # the positions nothing is copied to stay zero
        grad_buffer = np.zeros((per_block, multiplier, samples, *layout.extents), dtype=g.dtype)
        return layout.buffer(per_block, x.dtype), grad_buffer

    scratches = WorkerScratch(make_scratch)

    def work(start: int, stop: int) -> None:
        source_buffer, grad_buffer = scratches.get()
        for n0, c0 in blocks[start:stop]:
            n1, c1 = min(batch, n0 + samples), min(channels, c0 + per_block)
            count, width = n1 - n0, c1 - c0
            layout.fill(source_buffer, x, n0, n1, c0, c1)
            grad_buffer[(slice(0, width), slice(None), slice(0, count), *valid)] = grads[n0:n1, c0:c1].transpose(
                channel_first
            )
            run = (count - 1) * plane + length
            grad_flat = grad_buffer[:width].reshape(width, multiplier, -1)[:, :, :run]
            target = partial[n0 // samples, c0:c1]
            if paired:  # (real, imaginary) pairs as the two columns of a (run × 2) matrix per channel
                pairs = source_buffer[:width].reshape(width, -1).view(x.dtype).reshape(width, -1, 2)
                sums = [np.matmul(grad_flat, pairs[:, shift : shift + run]) for shift in shifts]
                for tap_index, (element, part) in enumerate(parts):
                    target[:, :, tap_index] = sums[element][..., part]
                continue
            source = source_buffer[:width].reshape(width, -1)
            for tap_index, shift in enumerate(shifts):
                target[:, :, tap_index] = np.matmul(grad_flat, source[:, shift : shift + run, None])[..., 0]

    _run_blocks(work, len(blocks), 1)
    result = partial.sum(axis=0).reshape(out_channels, len(taps))
    return result.reshape(out_channels, 1, *kernel)


def sum_over_samples(
    batch: int,
    sample_bytes: int,
    shape: tuple[int, ...],
    dtype,
    add_block: Callable[[int, int, np.ndarray], None],
    channel_sums: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Σ over blocks of samples, ``add_block(start, stop, partial)`` adding samples start … stop − 1's share
    of a sum of ``shape`` into ``partial``; blocks keep ``sample_bytes`` per sample within the workspace.
    Within ``single_threaded_blas`` each pool worker takes whole samples (their unfolds, transforms and
    products in its own thread) into its own partial sum: for the ResNet 3×3 56² batch 8 weight gradient,
    103 → 55 ms against splitting every product in halves, whose two single-threaded BLAS calls slow each
    other down.

    With ``channel_sums`` = (g, out), out (C,) also receives g (N, C, …) summed over samples and positions
    (a bias gradient), each block of g right after ``add_block`` has read it, while it is still in cache,
    instead of one more pass over g in the calling thread (1×1 64 → 256 channels at 56², batch 8, weight and
    bias gradients: 24.6 → 23.0 ms; the stem 30.5 → 29.3)."""
    workers = min(THREADS, batch) if getattr(_blas, "limited", False) else 1
    partials: list[np.ndarray | None] = [None] * workers
    sums: list[np.ndarray | None] = [None] * workers
    share = math.ceil(batch / workers)
    step = max(1, min(share, WORKSPACE_BYTES // workers // max(sample_bytes, 1)))

    def worker(index: int, _: int) -> None:
        # each worker zeroes its own partial sum (the Winograd weight gradient's, 256 channels: 4 MiB)
        partial = partials[index] = np.zeros(shape, dtype=dtype)
        last = min(batch, (index + 1) * share)
        for start in range(index * share, last, step):
            stop = min(last, start + step)
            add_block(start, stop, partial)
            if channel_sums is not None:
                grads = channel_sums[0][start:stop]
                block_sums = grads.reshape(stop - start, grads.shape[1], -1).sum(axis=2).sum(axis=0)
                sums[index] = block_sums if sums[index] is None else sums[index] + block_sums

    if workers == 1:
        worker(0, 1)
    else:
        _run_blocks(worker, workers, 1)
    if channel_sums is not None:
        out = channel_sums[1]
        out[...] = 0
        for part in sums:
            if part is not None:
                out += part
    total = partials[0]
    for partial in partials[1:]:
        total += partial
    return total


# Output positions per sample from which ``grad_weight_im2col`` on the pool contracts in the transposed
# orientation (see there).
GRAD_WEIGHT_TRANSPOSED_MIN = 256


def grad_weight_im2col(
    x: np.ndarray, g: np.ndarray, kernel, stride, padding: Pairs, dilation, groups: int, bias: np.ndarray | None = None
) -> np.ndarray:
    """dW[g] = Σ_n g[n, g] (O/G, Πout) · columns[n, g]ᵀ (Πout, C/G·Πk), the columns unfolded per sample
    as in the forward pass; blocks of samples accumulate into one partial sum per block, with one product
    per sample, or with fewer than IM2COL_SHARE_COLUMNS positions one product over a few of the block's
    samples side by side at a time (``side_by_side_samples``: a contraction over their samples and
    positions, (32, 3, 32²) * (64, 3, 7, 7) stride 2, forward+backward 16.3 → 14.8 ms)."""
    batch, channels = x.shape[:2]
    out_channels = g.shape[1]
    per_group = channels // groups
    depth = per_group * math.prod(kernel)
    dtype = np.result_type(x, g)
    out_spatial = g.shape[2:]
    grads = g.reshape(batch, groups, out_channels // groups, -1)
    sample_bytes = channels * math.prod(kernel) * math.prod(out_spatial) * x.itemsize
    # the input extent each output needs (pads may leave a surplus row that no output reads)
    needed = [s * (o - 1) + d * (k - 1) + 1 for s, o, d, k in zip(stride, out_spatial, dilation, kernel)]
    padding = [(lo, hi - (lo + size + hi - extent)) for (lo, hi), size, extent in zip(padding, x.shape[2:], needed)]
    # On the pool with many positions per sample, dWᵀ[g] += columns (C/G·Πk, Πout) · gᵀ (Πout, O/G): the
    # long contraction over positions then has the many unfolded rows as the product's rows (ResNet 3×3 at
    # 56², per sample on the pool: 8.3 against 10.9 ms the other way round), and the result is transposed
    # into w's layout at the end. With few positions that transposing copy of the whole kernel costs more
    # than the products (3×3, 512 channels, batch 2 at 4²: 28.2 against 10.9 ms; stride 2 to 7², batch 8:
    # 80.8 against 59.7; level from 14² and 16² outputs on). Otherwise dW[g] += g · columnsᵀ.
    positions = math.prod(out_spatial)
    transposed = getattr(_blas, "limited", False) and positions >= GRAD_WEIGHT_TRANSPOSED_MIN
    shape = (groups, depth, out_channels // groups) if transposed else (groups, out_channels // groups, depth)

    side_by_side = side_by_side_samples(positions, sample_bytes) if positions < IM2COL_SHARE_COLUMNS else 0

    def add_block(start: int, stop: int, partial: np.ndarray) -> None:
        if side_by_side:  # a few samples side by side at a time: one long contraction over them all
            for n0 in range(start, stop, side_by_side):
                n1 = min(stop, n0 + side_by_side)
                block = pad_zeros(x[n0:n1], padding)
                columns = unfold(block, kernel, stride, dilation, side_by_side=True).reshape(groups, depth, -1)
                wide_grads = np.ascontiguousarray(grads[n0:n1].transpose(1, 2, 0, 3)).reshape(groups, out_channels // groups, -1)
                if transposed:
                    partial += parallel_matmul(columns, wide_grads.swapaxes(-1, -2))
                else:
                    partial += parallel_matmul(wide_grads, columns.swapaxes(-1, -2))
            return
        block = pad_zeros(x[start:stop], padding)
        columns = unfold(block, kernel, stride, dilation).reshape(stop - start, groups, depth, -1)
        for n in range(stop - start):
            if transposed:
                partial += parallel_matmul(columns[n], grads[start + n].swapaxes(-1, -2))
            else:
                partial += parallel_matmul(grads[start + n], columns[n].swapaxes(-1, -2))

    by_groups = unfolds_by_groups((out_channels, per_group, *kernel), g.shape, groups, x.itemsize)
    per_task = groups_per_task(depth, math.prod(out_spatial), x.itemsize, groups)

    def add_block_by_groups(start: int, stop: int, partial: np.ndarray) -> None:
        # one sample's few groups at a time, unfolded into a scratch that stays in cache for its product
        # (32 groups of 4 channels at 56², batch 4: 14.8 → 12.8 ms; of 8 at 28², batch 8: 22.1 → 19.6)
        windows = group_windows(pad_zeros(x[start:stop], padding), kernel, stride, dilation, groups)
        scratch = np.empty((per_task, *windows.shape[2:]), dtype=x.dtype)
        for n in range(stop - start):
            for g0 in range(0, groups, per_task):
                g1 = min(groups, g0 + per_task)
                columns = scratch[: g1 - g0]
                np.copyto(columns, windows[n, g0:g1])
                columns = columns.reshape(g1 - g0, depth, -1)
                if transposed:
                    partial[g0:g1] += parallel_matmul(columns, grads[start + n, g0:g1].swapaxes(-1, -2))
                else:
                    partial[g0:g1] += parallel_matmul(grads[start + n, g0:g1], columns.swapaxes(-1, -2))

    sums = None if bias is None else (g, bias)
    result = sum_over_samples(batch, sample_bytes, shape, dtype, add_block_by_groups if by_groups else add_block, sums)
    if transposed:
        result = np.ascontiguousarray(result.swapaxes(-1, -2))
    return result.reshape(out_channels, per_group, *kernel)


def grad_weight_grouped_by_column_shifts(
    x: np.ndarray, g: np.ndarray, kernel, stride, padding: Pairs, dilation, groups: int, bias: np.ndarray | None = None
) -> np.ndarray:
    """dW of a grouped 2-d convolution from the column-shifted planes of its forward (``ColumnShifts``):
    dW[g, :, tap row dy] = Σ_n g[n, g] (O/G × H_out·W_out) · (the matrix of tap row dy)ᵀ, kh products per
    group and sample (a few groups of one sample copied at a time), summed over the batch by
    ``sum_over_samples``; with ``bias`` ((O,), written) also Σ g."""
    batch, channels, height, width = x.shape
    out_channels = g.shape[1]
    per_group, (kh, kw) = channels // groups, kernel
    dtype = np.result_type(x, g)
    layout = ColumnShifts(x.shape, (kh, kw), stride, padding, dilation, g.shape[2:])
    grads = g.reshape(batch, groups, out_channels // groups, -1)
    source = x.reshape(batch, groups, per_group, height, width)
    group_bytes = per_group * layout.channel_elements * x.itemsize
    per_task = max(1, min(groups, COLUMN_SHIFTS_SCRATCH_BYTES // group_bytes))

    def add_block(start: int, stop: int, partial: np.ndarray) -> None:
        buffer = layout.buffer(per_task, per_group, x.dtype)
        for n in range(start, stop):
            for g0 in range(0, groups, per_task):
                g1 = min(groups, g0 + per_task)
                layout.fill(buffer, source[n, g0:g1])
                for tap_row in range(kh):
                    matrices = layout.matrices(buffer, g1 - g0, tap_row).swapaxes(-1, -2)
                    partial[tap_row, g0:g1] += np.matmul(grads[n, g0:g1], matrices)

    shape = (kh, groups, out_channels // groups, per_group * kw)
    sums = None if bias is None else (g, bias)
    result = sum_over_samples(batch, per_task * group_bytes, shape, dtype, add_block, sums)
    # (kh, G, O/G, C/G, kw) → (O, C/G, kh, kw)
    result = result.reshape(kh, groups, out_channels // groups, per_group, kw).transpose(1, 2, 3, 0, 4)
    return np.ascontiguousarray(result).reshape(out_channels, per_group, kh, kw)


def grad_weight(
    x: np.ndarray,
    g: np.ndarray,
    kernel,
    stride,
    padding: Pairs,
    dilation,
    groups: int,
    bias: np.ndarray | None = None,
    kept_tiles: winograd.InputTiles | None = None,
) -> np.ndarray:
    """dL/dW of y = conv(x padded by ``padding``, W) given g = dL/dy, by the algorithm suited to the shapes;
    with ``bias`` ((O,), written), also dL/db = Σ g over samples and positions, summed where the algorithm
    reads g anyway when it can (``sum_over_samples``); ``kept_tiles``: a Winograd forward's transformed
    input."""
    stride, dilation, kernel = tuple(stride), tuple(dilation), tuple(kernel)
    padding = [tuple(pair) for pair in padding]
    depthwise = groups > 1 and groups == x.shape[1]
    rows = (
        depthwise
        and by_rows(x.shape, stride, padding, dilation)
        and any(s > 1 for s in stride)
        and x.shape[0] * g.shape[-1] >= ROWS_GRAD_MIN_COLUMNS
    )
    if bias is not None and (g.size == 0 or x.size == 0 or (depthwise and not rows)):
        bias[...] = g.sum(axis=(0, *range(2, g.ndim)))
        bias = None
    if g.size == 0 or x.size == 0:
        return np.zeros((g.shape[1], x.shape[1] // groups, *kernel), dtype=np.result_type(x, g))
    from . import fft

    w_shape = (g.shape[1], x.shape[1] // groups, *kernel)
    if fft.applies(x.shape, w_shape, stride, padding, dilation, groups, np.result_type(x, g)):
        return fft.grad_weight_fft(x, g, kernel, stride, padding, dilation, groups, bias)
    if rows:
        return grad_weight_depthwise_by_rows(x, g, kernel, stride, padding, bias)
    if depthwise:
        in_place = (
            all(s == 1 for s in stride)
            and g.shape[2:] == x.shape[2:]
            and x.ndim <= 4
            and math.prod(x.shape[2:]) >= IN_PLACE_MIN_PLANE
            and x.flags.c_contiguous
            and g.flags.c_contiguous
        )
        result = grad_weight_depthwise_in_place(x, g, kernel, padding, dilation) if in_place else None
        return grad_weight_depthwise(x, g, kernel, stride, padding, dilation) if result is None else result
    if all(k == 1 for k in kernel):
        return grad_weight_pointwise(x, g, stride, padding, groups, bias)
    from . import winograd

    if winograd.applies_to_weight_gradient(x.shape, w_shape, stride, dilation, groups, padding, np.result_type(x, g)):
        return winograd.grad_weight_winograd(x, g, padding, bias, kept_tiles)
    if winograd.applies_by_phases(x.shape, w_shape, stride, dilation, groups, padding, np.result_type(x, g)):
        return winograd.grad_weight_winograd_dilated(x, g, padding, dilation, bias, kept_tiles)
    from . import winograd_stride2

    if winograd_stride2.applies_downsampling(x.shape, w_shape, stride, padding, dilation, groups, np.result_type(x, g)):
        return winograd_stride2.grad_weight_winograd_downsampling(x, g, padding, bias)
    if by_column_shifts(x.shape, w_shape, padding, groups, x.itemsize):
        return grad_weight_grouped_by_column_shifts(x, g, kernel, stride, padding, dilation, groups, bias)
    return grad_weight_im2col(x, g, kernel, stride, padding, dilation, groups, bias)


def grad_weight_polyphase(
    x: np.ndarray, g: np.ndarray, kernel, stride, padding: Pairs, lhs_dilation, rhs_dilation, groups: int
) -> np.ndarray:
    """dL/dW when x is zero-stuffed by lhs_dilation: each output phase of ``conv_polyphase`` is an ordinary
    convolution of the unstuffed x with some of the taps, so its weight gradient fills those taps."""
    kernel = tuple(kernel)
    result = np.zeros((g.shape[1], x.shape[1] // groups, *kernel), dtype=np.result_type(x, g))
    if g.size == 0 or x.size == 0:
        return result
    plans = [
        polyphase_plan(size, o, k, st, lo, ld, rd)
        for size, o, k, st, (lo, _), ld, rd in zip(
            x.shape[2:], g.shape[2:], kernel, stride, padding, lhs_dilation, rhs_dilation
        )
    ]
    periods = [period for period, _ in plans]
    for phase in product(*(phases for _, phases in plans)):
        taps = tuple(taps for _, taps, *_ in phase)
        sub_kernel = [len(range(*tap.indices(k))) for tap, k in zip(taps, kernel)]
        if 0 in sub_kernel:
            continue
        grads = np.ascontiguousarray(
            g[(slice(None), slice(None), *(slice(r, None, p) for (r, *_), p in zip(phase, periods)))]
        )
        result[(slice(None), slice(None), *taps)] += grad_weight(
            x,
            grads,
            sub_kernel,
            [s for *_, s, _, _ in phase],
            [pads for *_, pads in phase],
            [d for *_, d, _ in phase],
            groups,
        )
    return result
