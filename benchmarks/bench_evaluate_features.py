"""Time the feature step of ``hepgen evaluate`` on the first N showers of a file, single-threaded:
reading (HDF5 + gzip decompression + validation) apart from computing the features, and a cProfile listing.

    PYTHONPATH=src python benchmarks/bench_evaluate_features.py ref_100000.h5 --n 10000 --profile 12
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", help="a shower file (CaloChallenge layout)")
    ap.add_argument("--n", type=int, default=10_000, help="showers to use (from the start of the file)")
    ap.add_argument("--chunk", type=int, default=5_000, help="showers per read (as hepgen evaluate)")
    ap.add_argument("--block", type=int, default=256, help="block_size of compute_features")
    ap.add_argument("--profile", type=int, default=0, help="print the top K functions of a cProfile run")
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    from hepgen.data import ShowerFile
    from hepgen.evaluate.features import compute_features

    threadpool_limits(1)
    f = ShowerFile(args.file)
    n = min(args.n, len(f))
    t0 = time.perf_counter()
    chunks = [f.read(s, min(s + args.chunk, n)) for s in range(0, n, args.chunk)]
    t_read = time.perf_counter() - t0
    compute_features(next(chunks[0].chunks(10)))    # builds the cached projections
    t0 = time.perf_counter()
    compute_features(iter(chunks), block_size=args.block)
    t_comp = time.perf_counter() - t0
    print(f"{n} showers of {args.file}: read {t_read:.2f} s, features {t_comp:.2f} s "
          f"({1e6 * (t_read + t_comp) / n:.0f} us/shower); load {os.getloadavg()}")
    if args.profile:
        del chunks
        pr = cProfile.Profile()
        pr.enable()
        compute_features(f.chunks(args.chunk) if n == len(f) else (f.read(s, min(s + args.chunk, n))
                                                                     for s in range(0, n, args.chunk)),
                         block_size=args.block)
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
