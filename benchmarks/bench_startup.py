"""Fresh-process costs: ``import tallyml`` against ``import numpy``, the first ``update()``
(import included: no JIT compile on the default path), and the peak-RSS growth of one
10M-sample update beyond its inputs. Each runs in a subprocess.

Run: PYTHONPATH=python python -m pytest benchmarks/bench_startup.py --benchmark-enable -q -s
"""
import subprocess
import sys

import pytest

from tallyml._bench import calls


@pytest.mark.parametrize("module", ["numpy", "tallyml"])
def test_import(benchmark, module):
    benchmark.group = "import"
    cmd = [sys.executable, "-c", f"import {module}"]
    benchmark.pedantic(lambda: subprocess.run(cmd, check=True), rounds=5, iterations=1)


def test_first_update(benchmark):
    benchmark.group = "first-update"
    seconds = benchmark.pedantic(calls.first_update_seconds, kwargs={"repeat": 1}, rounds=3,
                                 iterations=1)
    assert seconds > 0


@pytest.mark.parametrize("multiclass", [False, True])
def test_update_rss_growth(benchmark, multiclass):
    benchmark.group = "rss-growth-10M"
    growth = benchmark.pedantic(calls.update_rss_growth, kwargs={"multiclass": multiclass},
                                rounds=1, iterations=1)
    benchmark.extra_info["rss_growth_bytes"] = growth
    print(f"\npeak RSS growth during a 10M {'multiclass' if multiclass else 'binary'} update: "
          f"{growth / 1e6:.2f} MB")
