"""Process lifetime: child processes (the job worker, extra API processes) never outlive the server.

A server killed with SIGKILL cannot stop its children; Linux can (PR_SET_PDEATHSIG). Orphaned API processes
would keep the port, so a restarted server could not bind it, and their pipeline would be gone.
"""

from __future__ import annotations

import gc
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager


def die_with_parent(expected_parent: int | None = None) -> None:
    """Ask Linux to SIGTERM this process when its parent dies, even by SIGKILL.

    ``expected_parent``: if the parent is already gone (re-parented before this call), terminate now."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: a restarted server's children run beside the new one until they are stopped
    if expected_parent is not None and os.getppid() != expected_parent:
        os.kill(os.getpid(), signal.SIGTERM)


def one_math_thread() -> None:
    """Limit this process's BLAS and OpenMP pools to one thread. For a process that is one of several busy ones
    on the same cores (analysis helpers, scan workers): numpy's OpenBLAS and the OpenMP runtimes otherwise start a
    thread per core, which saves no time there and spins on the cores the others need (`benchmarks/
    bench_pipeline.py --processes 2`: the analysis helpers' CPU per report fell from 4.5 to 3.7-3.8 ms).
    Not in a forked child: see `forks_with_one_math_thread`."""
    one_math_thread_env()
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # stays in force: the returned object only restores the limits if used as a context


_MATH_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_math_thread_env() -> None:
    """The environment part of `one_math_thread`: libraries loaded from now on (numpy's and scipy's OpenBLAS,
    scikit-learn's and LightGBM's OpenMP) read these when they start, and `match.index` reads OMP_NUM_THREADS to
    search on one thread. The initializer of a forked child (`forks_with_one_math_thread`)."""
    for name in _MATH_THREAD_ENV:
        os.environ[name] = "1"


@contextmanager
def forks_with_one_math_thread() -> Iterator[None]:
    """Hold this process at one math thread (its BLAS and OpenMP pools, and the environment of
    `one_math_thread_env`) while it works beside children it forks that should have one (scan workers), then put
    both back. The children inherit the pools' setting and must not set it themselves: a forked child that sets
    OpenBLAS's thread count restarts OpenBLAS's thread pool (one per OpenBLAS library loaded: numpy's and
    scipy's), whose threads then spin on the cores before they sleep: CPU taken from every scan's workers as they
    start."""
    from threadpoolctl import threadpool_limits

    before = {name: os.environ.get(name) for name in _MATH_THREAD_ENV}
    try:
        with threadpool_limits(limits=1):
            one_math_thread_env()
            yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


YOUNG_COLLECTION = 20_000


def settle_heap() -> None:
    """After start-up: collect, then move every object alive now (modules, models, indexes: a few hundred thousand)
    out of the cyclic garbage collector's reach (`gc.freeze`), so that full collections stop walking them again.
    A full collection holds the GIL for a tenth of a second or more: in an API process one stalled the intake
    writer thread while it held the database's write lock, and both API processes stopped answering
    (`benchmarks/bench_intake.py`: intake p99 162.6 / 187.7 ms in the two runs before this, 40.4-105.6 ms in
    the thirteen after, twelve of them under 100 ms). Frozen objects are still freed by reference counting; only
    garbage cycles among them would never be collected, and the start-up's objects live as long as the process.

    The youngest generation is then collected every YOUNG_COLLECTION allocations instead of 700: a pipeline write
    transaction allocates tens of thousands of objects that live until it ends, and at the default they were
    promoted and walked again by full collections (`benchmarks/bench_pipeline.py --reports 15000 --processes 2`
    against `--no-settle`: the worker's collections during the drain 11, none full, 0.15-0.21 s in all, against
    1,033-1,036, five full, 1.54-1.70 s, the longest 344-369 ms)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION, 20, 10)


READY_FD_ENV = "QINGLANG_READY_FD"


def start_with_ready_pipe(args: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start a child that dies with this process and can say when it is ready (``take_ready_fd`` and
    ``signal_ready`` in the child); returns it and the read end for ``wait_ready``."""
    r, w = os.pipe()
    try:
        child = subprocess.Popen(args, preexec_fn=die_with_parent, pass_fds=(w,),  # noqa: PLW1509
                                 env={**os.environ, READY_FD_ENV: str(w)})
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    return child, r


def take_ready_fd() -> int | None:
    """The write end of the parent's ready pipe, if this process was started with one (removed from the
    environment, so this process's own children do not see it)."""
    value = os.environ.pop(READY_FD_ENV, None)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def signal_ready(fd: int | None) -> None:
    """Tell the parent this process is ready (nothing without a ready pipe)."""
    if fd is None:
        return
    try:
        os.write(fd, b"1")
        os.close(fd)
    except OSError:
        pass  # the parent stopped waiting or is gone


def wait_ready(child: subprocess.Popen[bytes], fd: int, timeout: float) -> bool:
    """Wait until the child signals ready; False if it exits first or ``timeout`` seconds pass. Closes ``fd``."""
    deadline = time.monotonic() + timeout
    try:
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([fd], [], [], min(left, 0.5))
            if readable:
                return os.read(fd, 1) == b"1"  # b"" when the child exited without signalling
            if child.poll() is not None:
                return False
        return False
    finally:
        os.close(fd)
