#!/bin/sh
# Time npconv's convolutions against PyTorch's on the fixed suite of real layer shapes.
# Usage: bench/run.sh [--quick] [--filter TEXT] [--repeats N] [--dtype float64] [--no-torch] [--no-memory]
# The OpenBLAS tuning variables are cleared for this command only, so that BLAS runs the kernel that
# users get by default.
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${PYTHON:-python}" -m npconv.cli bench "$@"
