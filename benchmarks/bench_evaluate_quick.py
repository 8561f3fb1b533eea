"""Time hepgen.evaluate.quick_metrics on 1k CaloChallenge ds2 toy showers (target: < 1 s).

    python benchmarks/bench_evaluate_quick.py
"""

import os
import time

from bench_evaluate_official import toy_showers

from hepgen.evaluate import quick_metrics

if __name__ == "__main__":
    ref, gen = toy_showers(1000, 1), toy_showers(1000, 2, width=1.1)
    quick_metrics(ref[:10], gen[:10])                      # warm caches (geometry projection matrices)
    t0 = time.perf_counter()
    q = quick_metrics(ref, gen)
    dt = time.perf_counter() - t0
    print(f"quick_metrics on 1000 ds2 showers: {dt:.3f} s (load {os.getloadavg()[0]:.2f}); {q}")
