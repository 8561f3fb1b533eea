"""Point-cloud generation path before/after (issue 9): the ``sample`` and ``write-gzip`` paths of
``hepgen benchmark`` on tiny point-cloud runs, timed interleaved in one process (robust to a loaded
machine), one thread, median over rounds of ms per shower.

* ``before``: the hit post-processing (:mod:`hepgen.data.postprocess_hits`) of git revision
  ``--before-rev`` (the per-hit duplicate shifting), loaded from git and swapped in;
* ``after``: the code of the working tree.

Runs are made as ``bench_all_models.py`` makes them (default model sizes, one epoch on 16 GFlash ds2
electrons); the weights do not change the cost much, but an untrained model puts many hits in the same
voxels, so its duplicate shifting is a worst case. ``--check`` also asserts that both variants give
identical showers for the same seed.

    PYTHONPATH=src:benchmarks python benchmarks/bench_pointcloud_path.py --runs RUNS --before-rev REV
        [--models mdma-calo-gan] [--batches 1,100] [--paths sample,write-gzip] [--rounds 3] [--calls 5] [--check]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def module_at(rev: str, path: str, name: str):
    """The module ``path`` as it was at git revision ``rev``."""
    src = subprocess.run(["git", "show", f"{rev}:{path}"], check=True, capture_output=True, text=True).stdout
    folder = Path(tempfile.mkdtemp())
    (folder / f"{name}.py").write_text(src)
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", required=True, help="folder of the tiny runs (made when missing)")
    ap.add_argument("--before-rev", required=True, help="git revision of the 'before' post-processing")
    ap.add_argument("--models", default="mdma-calo-gan")
    ap.add_argument("--batches", default="1,100")
    ap.add_argument("--paths", default="sample,write-gzip")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=5, help="calls per timing at batch 1 (calls // B at batch B)")
    ap.add_argument("--check", action="store_true", help="assert identical showers before/after")
    args = ap.parse_args()
    torch.set_num_threads(1)

    import hepgen.data.postprocess_hits as pp
    from bench_all_models import tiny_run
    from hepgen.progress import set_quiet
    from hepgen.training.generate import load_generator
    from hepgen.timing.benchmark import _Showers, machine_info

    set_quiet(True)
    old = module_at(args.before_rev, "src/hepgen/data/postprocess_hits.py", "postprocess_hits_before")
    variants = {"before": old.shift_duplicates, "after": pp.shift_duplicates}
    tmp = Path(tempfile.mkdtemp())
    batches = [int(b) for b in args.batches.split(",")]
    print(f"# {machine_info()['date']}; nproc {os.cpu_count()}; load at start {os.getloadavg()}", flush=True)
    for model in args.models.split(","):
        gen = load_generator(tiny_run(model, Path(args.runs)), threads=1)
        bench = _Showers(gen, "log-uniform:1GeV:1TeV", max(batches), 0, tmp)
        if args.check:
            e = bench.e[:20]
            out = {}
            for name, fn in variants.items():
                pp.shift_duplicates = fn
                out[name] = gen.sample(e, None, batch_size=20, seed=1).energy
            assert np.array_equal(out["before"], out["after"]), "before and after differ"
            print(f"{model}: before and after give identical showers (20 showers, seed 1)", flush=True)
        times: dict = {}
        fns = {(path, b): bench.fn(gen, "torch", path, b) for path in args.paths.split(",") for b in batches}
        for fn in fns.values():
            fn()                                                  # warm-up (file creation, caches)
        for r in range(args.rounds):
            for name in (list(variants) if r % 2 == 0 else list(variants)[::-1]):   # interleaved, alternating
                pp.shift_duplicates = variants[name]
                for path in args.paths.split(","):
                    for b in batches:
                        fn, calls = fns[(path, b)], max(1, args.calls // b)
                        t0 = time.perf_counter()
                        for _ in range(calls):
                            fn()
                        times.setdefault((name, path, b), []).append((time.perf_counter() - t0) * 1e3 / b / calls)
        pp.shift_duplicates = variants["after"]
        print(f"\n{model}, 1 thread, median over {args.rounds} interleaved rounds, ms per shower; "
              f"load {os.getloadavg()}\n\n| path | batch | before | after | speed-up |\n|---|---|---|---|---|")
        for path in args.paths.split(","):
            for b in batches:
                m0 = statistics.median(times[("before", path, b)])
                m1 = statistics.median(times[("after", path, b)])
                print(f"| {path} | {b} | {m0:.1f} | {m1:.1f} | {m0 / m1:.0f}x |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
