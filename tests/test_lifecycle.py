"""Process settings for busy helper processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys


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
    env_free = {k: v for k, v in os.environ.items()
                if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=env_free, check=True, capture_output=True, text=True)
    pools = json.loads(out.stdout.strip().splitlines()[-1])
    assert {api for api, _ in pools} >= {"openblas", "openmp"}
    assert all(n == 1 for _, n in pools), pools
