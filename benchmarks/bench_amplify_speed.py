"""Speed of the quantile machinery at Calomplification scale (Sec. 3 of S. Bieringer et al., "Calomplification —
the power of generative calorimeter models", JINST 17 (2022) P09028, arXiv:2202.07352): cells built on a 218k-point
truth set (1D, 2D, 4D) for n_quant = 2 ... 2^17, vectorised assignment of 10^6 points, a full D̄_JS curve, and the
equivalent-N recovery of reference subsets.

    PYTHONPATH=src python benchmarks/bench_amplify_speed.py
"""

from __future__ import annotations

import time

import numpy as np

from hepgen.amplify import build_quantile_cells, equivalent_size_multinomial, jsd_curve


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for d in (1, 2, 4):
        truth = rng.gamma(4.0, size=(218_000, d))
        for k in (2 ** 10, 2 ** 17):
            t0 = time.perf_counter()
            cells = build_quantile_cells(truth, k)
            t_build = time.perf_counter() - t0
            x = rng.gamma(4.0, size=(1_000_000, d))
            t0 = time.perf_counter()
            cells.assign(x)
            t_assign = time.perf_counter() - t0
            rows.append((d, k, t_build, t_assign))
            print(f"| {d} | {k} | {t_build:.2f} | {t_assign:.2f} |", flush=True)
    # a D̄_JS curve 2..2^16 of a 10^6 sample, and equivalent-N recovery of 10k subsets
    truth = rng.gamma(4.0, size=(218_000, 2))
    ks = [2 ** i for i in range(1, 17)]
    t0 = time.perf_counter()
    cells = {k: build_quantile_cells(truth, k) for k in ks}
    gen = jsd_curve([rng.gamma(4.0, size=(1_000_000, 2))], cells, ks, "1e6")
    print(f"D_JS curve, 16 n_quant, 1e6 points: {time.perf_counter() - t0:.1f} s")
    sub = jsd_curve([rng.gamma(4.0, size=(10_000, 2)) for _ in range(5)], cells, ks, "10k")
    for k in (64, 256, 1024):
        j = ks.index(k)
        e = equivalent_size_multinomial(sub.mean[j], cells[k].probabilities, sub.std[j], n_reference=len(truth))
        print(f"true N = 10000, n_quant {k}: N_equiv = {e}")
        e = equivalent_size_multinomial(gen.mean[j], cells[k].probabilities, 0.0, n_reference=len(truth))
        print(f"true N = 1000000, n_quant {k}: N_equiv = {e}")


if __name__ == "__main__":
    main()
