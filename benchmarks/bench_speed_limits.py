"""Physical limits of generation per geometry: bytes per shower vs memory bandwidth, model FLOPs vs
the CPU's measured peak, on one core.

* memory bandwidth: NumPy copy of 256 MB (read + write counted);
* CPU peak: single-threaded float32 matrix multiply (torch.mm 1024^3), the best a dense network
  layer can do here; the nominal peak (AVX2: 2 FMA x 8 float32 per cycle = 32 FLOP/cycle) is
  printed next to it;
* FLOPs per shower: torch.utils.flop_counter on one sampling call (batch 2) of each registered
  model with its default sizes, per geometry;
* HDF5 write time per shower with gzip / lzf / none (h5py, chunks as hepgen's ShowerWriter).

    PYTHONPATH=src python benchmarks/bench_speed_limits.py [--geometries calochallenge-1-photons,calochallenge-2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def bandwidth_gbs() -> float:
    a = np.ones(32 * 2**20)  # 256 MB
    b = np.empty_like(a)
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best / 1e9


def gemm_gflops() -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.mm(a, b)
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * 1024**3 / best / 1e9


def flops_per_shower(name: str, geometry: str) -> tuple[float, int]:
    from torch.utils.flop_counter import FlopCounterMode

    from hepgen.geometry import get_geometry
    from hepgen.models.registry import get_model_class

    geo = get_geometry(geometry)
    shape = tuple(geo.shape) if geo.shape is not None else (geo.n_voxels,)
    cls = get_model_class(name)
    model = cls(shape, 1, dict(cls.default_config), geo).eval()
    if hasattr(model, "pp_active"):
        model.pp_active.fill_(True)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model.sample(torch.zeros(2, 1))
    from hepgen.timing import parameter_counts

    with torch.inference_mode():
        params = parameter_counts(model, lambda: model.sample(torch.zeros(2, 1)))["generation"]
    return fc.get_total_flops() / 2, params


def write_ms(geometry: str, compression: str, n: int = 2000) -> float:
    from hepgen.data import ShowerData, ShowerWriter
    from hepgen.geometry import get_geometry

    geo = get_geometry(geometry)
    rng = np.random.default_rng(0)
    x = (rng.exponential(1, (n, geo.n_voxels)) * (rng.random((n, geo.n_voxels)) < 0.3)).astype(np.float32)
    s = ShowerData(np.full(n, 1e4), x, geo)
    path = Path(tempfile.mkdtemp()) / "w.h5"
    t = time.perf_counter()
    with ShowerWriter(path, geo, compression=compression) as w:
        for part in s.chunks(1000):
            w.append(part)
    dt = (time.perf_counter() - t) * 1e3 / n
    path.unlink()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--geometries", default="calochallenge-1-photons,calochallenge-1-pions,calochallenge-2,"
                                            "calochallenge-3,ild-ecal")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from hepgen.geometry import get_geometry
    from hepgen.models.registry import list_models

    bw, peak = bandwidth_gbs(), gemm_gflops()
    print(f"memory bandwidth (copy, 1 core): {bw:.1f} GB/s; float32 GEMM 1 thread: {peak:.1f} GFLOP/s")
    print("\n| geometry | voxels | bytes/shower | t_mem ms (1 pass) | write none ms | write lzf ms | write gzip ms |")
    print("|---|---|---|---|---|---|---|")
    for g in args.geometries.split(","):
        n = get_geometry(g).n_voxels
        nbytes = 4 * n + 8
        w = {c: write_ms(g, c, 2000 if n < 10000 else 300) for c in ("none", "lzf", "gzip")}
        print(f"| {g} | {n} | {nbytes} | {nbytes / bw / 1e6:.5f} | {w['none']:.4f} | {w['lzf']:.4f} | "
              f"{w['gzip']:.4f} |", flush=True)
    print("\n| model | geometry | generation params | MFLOP/shower | t_flop ms at GEMM peak |")
    print("|---|---|---|---|---|")
    for name in list_models():
        for g in args.geometries.split(","):
            try:
                flops, params = flops_per_shower(name, g)
            except Exception as exc:  # a model that does not take voxel showers
                print(f"| {name} | {g} | skipped: {type(exc).__name__} | | |")
                continue
            print(f"| {name} | {g} | {params} | {flops / 1e6:.1f} | {flops / peak / 1e6:.4f} |", flush=True)


if __name__ == "__main__":
    main()
