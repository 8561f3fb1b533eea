"""hepgen's evaluation beside the official CaloChallenge code (mode 'hist') on the same dataset-2 files.

Writes two CaloChallenge-format ds2 files of N toy showers (seeded; the generated one has a 10 % wider
radial profile), runs the official ``evaluate.py -m hist -d 2`` from a checkout of the CaloChallenge
repository's ``code/`` folder (given with --official-code; LaTeX text rendering is switched off because
it needs a TeX installation), runs hepgen on the same files, and prints the agreement of the high-level
features and of every separation power, and both run times.

    python benchmarks/bench_evaluate_official.py --official-code CaloChallenge/code --n 2000 --workdir /tmp/cc
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RUNNER = ("import runpy, sys, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt; "
          "_rc = plt.rc; plt.rc = lambda g, **k: None if g == 'text' else _rc(g, **k); "
          "sys.argv = ['evaluate.py'] + sys.argv[1:]; runpy.run_path('evaluate.py', run_name='__main__')")


def toy_showers(n: int, seed: int, width: float = 1.0):
    """ds2 toy showers: gamma longitudinal profile, exponential radial profile, exponential fluctuations,
    30 % empty voxels, E_tot/E_inc around 1."""
    from hepgen.data import ShowerData
    from hepgen.geometry import get_geometry

    g = get_geometry("calochallenge-2")
    rng = np.random.default_rng(seed)
    inc = 10 ** rng.uniform(3, 6, n)
    layer = g.layer_of_voxel
    r = g.voxel_positions()["r"]
    out = np.empty((n, g.n_voxels), np.float32)
    for s in range(0, n, 1000):
        m = min(1000, n - s)
        t_max = rng.uniform(5, 15, (m, 1))
        long = (layer[None, :] + 0.5) ** 2 * np.exp(-2 * (layer[None, :] + 0.5) / t_max)
        rad = np.exp(-r[None, :] / (5.0 * width))
        e = long * rad * rng.exponential(1.0, (m, g.n_voxels)) * (rng.random((m, g.n_voxels)) > 0.3)
        e *= (inc[s:s + m] * rng.normal(0.97, 0.05, m) / e.sum(axis=1))[:, None]
        out[s:s + m] = e
    return ShowerData(inc, out, g)


def parse_official(path: Path) -> dict[str, float]:
    names = {"Etot / Einc": "E_tot/E_inc", "E layer": "E_layer", "EC Eta layer": "EC_eta", "EC Phi layer": "EC_phi",
             "Width Eta layer": "width_eta", "Width Phi layer": "width_phi", "Voxel distribution": "voxel_energy"}
    out = {}
    for m in re.finditer(r"^([A-Za-z /]+?)( \d+)?: \n([-0-9.e+naninf]+)", path.read_text(), re.M):
        key = names[m.group(1)] + (f"_{m.group(2).strip()}" if m.group(2) else "")
        out[key] = float(m.group(3))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official-code", type=Path, required=True, help="the CaloChallenge repository's code/ folder")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--skip-official", action="store_true")
    ap.add_argument("--skip-inprocess", action="store_true",
                    help="skip the second, in-process timing of features + histograms alone")
    args = ap.parse_args()
    from hepgen.data import write_showers
    from hepgen.evaluate import FeatureSet, compute_features
    from hepgen.evaluate.evaluation import evaluate_features
    from hepgen.data import ShowerFile

    args.workdir.mkdir(parents=True, exist_ok=True)
    ref_path, gen_path = args.workdir / f"ref_{args.n}.h5", args.workdir / f"gen_{args.n}.h5"
    for path, seed, width in ((ref_path, 1, 1.0), (gen_path, 2, 1.1)):
        if not path.exists():
            write_showers(path, toy_showers(args.n, seed, width))
    print(f"files: {args.n} showers each; load: {os.getloadavg()}")

    # hepgen: the full command (no classifier) in a fresh process, and the feature + histogram step alone
    out = args.workdir / f"hepgen_{args.n}"
    shutil.rmtree(out / "cache", ignore_errors=True)   # time the feature computation too, not a cached rerun
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hepgen", "--quiet", "evaluate", str(ref_path), str(gen_path), "-o", str(out),
                    "--no-classifier", "--overwrite"], check=True, env={**os.environ, "MPLBACKEND": "Agg"})
    t_hepgen_cli = time.perf_counter() - t0
    print(f"hepgen evaluate --no-classifier: {t_hepgen_cli:.1f} s; load: {os.getloadavg()}", flush=True)
    t0 = time.perf_counter()
    if args.skip_inprocess:   # the features the command computed and cached
        fr, fg = (FeatureSet.load(out / "cache" / f"{k}_features.npz") for k in ("reference", "generated"))
    else:
        fr, fg = (compute_features(ShowerFile(p).chunks(5000)) for p in (ref_path, gen_path))
    res = evaluate_features(fr, fg, multivariate=False)
    t_hepgen_hist = time.perf_counter() - t0
    what = "histograms from the cached features" if args.skip_inprocess else "features + histograms (incl. reading)"
    print(f"hepgen evaluate --no-classifier (features, all histograms, W1/KS, FPD/KPD/PRDC, figures, html): "
          f"{t_hepgen_cli:.1f} s; in process, {what}: {t_hepgen_hist:.1f} s")
    if args.skip_official:
        return
    off_out = args.workdir / f"official_{args.n}"
    pkl = ref_path.with_suffix(".pkl")
    if pkl.exists():
        pkl.unlink()
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", RUNNER, "-i", str(gen_path), "-r", str(ref_path), "-m", "hist", "-d", "2",
                    "--output_dir", str(off_out)], cwd=args.official_code, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "MPLBACKEND": "Agg"})
    t_official = time.perf_counter() - t0
    print(f"official evaluate.py -m hist -d 2: {t_official:.1f} s (speed-up of hepgen's command: "
          f"{t_official / t_hepgen_cli:.1f}x)")
    official = parse_official(off_out / "histogram_chi2_2.txt")
    diffs = [(abs(official[k] - res["histograms"][k]["separation_power"]), k) for k in official]
    worst = max(diffs)
    print(f"separation powers compared: {len(diffs)}; max |official - hepgen| = {worst[0]:.3g} ({worst[1]}); "
          f"official {official[worst[1]]:.6g}, hepgen {res['histograms'][worst[1]]['separation_power']:.6g}")
    print("examples:", {k: (round(official[k], 6), round(res['histograms'][k]['separation_power'], 6))
                        for k in ("E_tot/E_inc", "E_layer_10", "EC_eta_10", "width_phi_20", "voxel_energy")})
    # high-level features: the official class on the thresholded reference, beside hepgen's
    sys.path.insert(0, str(args.official_code))
    import pickle

    with open(pkl, "rb") as f:
        hlf = pickle.load(f)
    pairs = [("E_tot", hlf.E_tot)] + [(f"E_layer_{l}", v) for l, v in hlf.E_layers.items()]
    for attr, name in (("EC_etas", "EC_eta"), ("EC_phis", "EC_phi"), ("width_etas", "width_eta"),
                       ("width_phis", "width_phi"), ("sparsity", "sparsity"), ("EC_r", "EC_r"), ("width_r", "width_r")):
        pairs += [(f"{name}_{l}", v) for l, v in getattr(hlf, attr).items()]
    rel, absw = 0.0, 0.0
    for k, v in pairs:
        d = np.abs(fr.scalars[k] - v)
        if k.startswith("width"):   # widths of one-bin layers are round-off zeros (float32 there, float64 here)
            absw = max(absw, float(d.max()))
        else:
            rel = max(rel, float(np.max(d / (np.abs(v) + 1e-12))))
    print(f"high-level features compared: {len(pairs)} arrays x {args.n} showers; max relative difference "
          f"{rel:.3g} (E, EC, sparsity); max absolute difference of widths {absw:.3g} mm")

if __name__ == "__main__":
    main()
