"""Process settings for busy helper processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def _fresh_interpreter(code: str) -> Any:
    """The JSON ``code`` prints last, run in a new interpreter whose math libraries start at their default thread
    counts (none of the variables `one_math_thread` sets)."""
    env_free = {k: v for k, v in os.environ.items()
                if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env_free, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_one_math_thread_limits_libraries_loaded_before_and_after() -> None:
    # A fresh interpreter: numpy loaded before the call, scikit-learn, SciPy and LightGBM after it.
    code = (
        "import numpy, json\n"
        "from qinglang.lifecycle import one_math_thread\n"
        "one_math_thread()\n"
        "import scipy.sparse, sklearn.linear_model, lightgbm\n"
        "from threadpoolctl import threadpool_info\n"
        "print(json.dumps([(i['internal_api'], i['num_threads']) for i in threadpool_info()]))\n"
    )
    pools = _fresh_interpreter(code)
    assert {api for api, _ in pools} >= {"openblas", "openmp"}
    assert all(n == 1 for _, n in pools), pools


def test_forked_children_inherit_one_math_thread_without_restarting_blas() -> None:
    # A fresh interpreter with the libraries at their default thread counts. A child forked under
    # `forks_with_one_math_thread` computes with one thread and starts none (a child that set the count itself
    # would restart OpenBLAS's pool); the parent gets its thread counts, and its environment, back afterwards.
    code = (
        "import json, os, time, numpy, scipy.linalg\n"
        "from threadpoolctl import threadpool_info\n"
        "from qinglang.lifecycle import forks_with_one_math_thread\n"
        "before = [i['num_threads'] for i in threadpool_info()]\n"
        "r, w = os.pipe()\n"
        "with forks_with_one_math_thread():\n"
        "    inside = os.environ.get('OMP_NUM_THREADS')\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        a = numpy.random.default_rng(0).random((400, 400))\n"
        "        for _ in range(5):\n"
        "            a = a @ a / 400\n"
        "        tasks = len(os.listdir('/proc/self/task'))\n"
        "        pools = [i['num_threads'] for i in threadpool_info()]\n"
        "        os.write(w, json.dumps([tasks, pools]).encode())\n"
        "        os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print(json.dumps([before, json.loads(os.read(r, 65536)), [i['num_threads'] for i in threadpool_info()],\n"
        "                  [inside, os.environ.get('OMP_NUM_THREADS')]]))\n"
    )
    before, (tasks, child_pools), after, env = _fresh_interpreter(code)
    assert tasks == 1
    assert child_pools and all(n == 1 for n in child_pools)
    assert after == before
    assert env == ["1", None]  # `match.index` searches on one thread inside, as before outside


def _child(code: str) -> tuple[subprocess.Popen[bytes], int]:
    from qinglang.lifecycle import start_with_ready_pipe

    prelude = "import time\nfrom qinglang.lifecycle import signal_ready, take_ready_fd\nfd = take_ready_fd()\n"
    return start_with_ready_pipe([sys.executable, "-c", prelude + code])


def test_a_parent_waits_for_its_child_to_be_ready() -> None:
    from qinglang.lifecycle import READY_FD_ENV, wait_ready

    child, fd = _child(f"import os\nassert os.environ.get('{READY_FD_ENV}') is None\ntime.sleep(0.5)\n"
                       "signal_ready(fd)\ntime.sleep(30)\n")
    try:
        assert wait_ready(child, fd, 20.0) and child.poll() is None  # ready, still running
    finally:
        child.kill()
        child.wait()


def test_a_child_that_exits_or_hangs_is_not_ready() -> None:
    from qinglang.lifecycle import wait_ready

    child, fd = _child("raise SystemExit(3)\n")
    assert not wait_ready(child, fd, 20.0) and child.wait() == 3
    child, fd = _child("time.sleep(30)\n")
    try:
        assert not wait_ready(child, fd, 1.0)
    finally:
        child.kill()
        child.wait()


def test_settle_heap_collects_then_freezes_what_start_up_left() -> None:
    from qinglang.lifecycle import YOUNG_COLLECTION

    # A fresh interpreter: a large live structure (as loaded models and indexes are) and a garbage cycle.
    code = (
        "import gc, json, weakref\n"
        "from qinglang.lifecycle import settle_heap\n"
        "class Node: pass\n"
        "live = [{'k': [i]} for i in range(200_000)]\n"
        "a, b = Node(), Node(); a.b, b.a = b, a; dead = weakref.ref(a); del a, b\n"
        "gc.disable()\n"  # only settle_heap may collect the cycle
        "settle_heap()\n"
        "print(json.dumps([dead() is None, gc.get_freeze_count(), len(gc.get_objects()), gc.get_threshold()[0]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    cycle_collected, frozen, walked, young = json.loads(out.stdout.strip().splitlines()[-1])
    assert cycle_collected
    assert frozen >= 400_000  # the dicts and their lists: out of every later collection's walk
    assert walked < 1_000
    assert young == YOUNG_COLLECTION  # a transaction's short-lived objects are not promoted by the thousand
