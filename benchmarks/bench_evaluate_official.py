"""hepgen's evaluation beside the official CaloChallenge code on the same dataset-2 files.

Writes two CaloChallenge-format ds2 files of N toy showers (seeded; the generated one has a 10 % wider
radial profile), runs the official ``evaluate.py -d 2`` from a checkout of the CaloChallenge repository's
``code/`` folder (given with --official-code; LaTeX text rendering is switched off because it needs a TeX
installation) in the modes given with --modes, runs ``hepgen evaluate --no-classifier`` on the same files,
and prints both side by side:

* ``hist``: the high-level features and every separation power;
* ``fpd`` / ``kpd`` (one official run computes both): the official values (``jetnet.evaluation.fpd(...,
  min_samples=10000)`` and ``kpd(..., batch_size=10000)``), hepgen's distances on the very arrays the
  official code passed to jetnet (captured at run time), and ``hepgen evaluate``'s values on its own
  features;
* ``prdc``: the official values (the ``prdc`` package on log10 voxels) beside hepgen's PRDC on the same
  arrays, and ``hepgen evaluate``'s PRDC (another definition: standardised high-level inputs).

The official code needs jetnet (numpy < 2), prdc, torch, h5py and matplotlib: give the interpreter of an
environment that has them with --official-python (never a dependency of hepgen). Nothing is fetched at
run time. The classifier modes are not run here (they are calibrated by the classifier benchmark).

    python benchmarks/bench_evaluate_official.py --official-code CaloChallenge/code --n 2000 --workdir WORK \
        --official-python OFFICIAL_VENV/bin/python --modes hist,fpd,prdc
"""

from __future__ import annotations

import argparse
import json
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

# Run before the official evaluate.py: wraps jetnet's fpd/kpd and prdc's compute_prdc so that the arrays
# the official code passes and the exact values it gets back are saved (DUMP = a folder, from the environment).
CAPTURE = """
import json, os, numpy as np
_dump = os.environ['HEPGEN_BENCH_DUMP']
def _wrap(module, name, tag, first, second):
    real = getattr(module, name)
    def wrapped(*a, **k):
        x, y = (a[0], a[1]) if len(a) >= 2 else (k[first], k[second])
        np.save(os.path.join(_dump, tag + '_reference.npy'), np.asarray(x))
        np.save(os.path.join(_dump, tag + '_generated.npy'), np.asarray(y))
        out = real(*a, **k)
        with open(os.path.join(_dump, tag + '_values.json'), 'w') as f:
            json.dump({'kwargs': {kk: v for kk, v in k.items() if kk not in (first, second)},
                       'values': {kk: float(v) for kk, v in out.items()} if isinstance(out, dict)
                       else [float(v) for v in out]}, f)
        return out
    setattr(module, name, wrapped)
import jetnet.evaluation as _je
_wrap(_je, 'fpd', 'fpd', 'real_features', 'gen_features')
_wrap(_je, 'kpd', 'kpd', 'real_features', 'gen_features')
try:
    import prdc as _prdc
    _wrap(_prdc, 'compute_prdc', 'prdc', 'real_features', 'fake_features')
except ImportError:
    pass
"""


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


def run_official(args, mode: str, ref_path: Path, gen_path: Path) -> tuple[Path, float]:
    """Run the official evaluate.py in ``mode``; returns its output folder and run time."""
    off_out = args.workdir / f"official_{args.n}_{mode}"
    dump = off_out / "captured"
    dump.mkdir(parents=True, exist_ok=True)
    pkl = ref_path.with_suffix(".pkl")
    if pkl.exists():
        pkl.unlink()
    t0 = time.perf_counter()
    subprocess.run([args.official_python, "-c", CAPTURE + "\n" + RUNNER, "-i", str(gen_path), "-r", str(ref_path),
                    "-m", mode, "-d", "2", "--output_dir", str(off_out)], cwd=args.official_code, check=True,
                   stdout=subprocess.DEVNULL,
                   env={**os.environ, "MPLBACKEND": "Agg", "HEPGEN_BENCH_DUMP": str(dump), "PYTHONPATH": ""})
    return off_out, time.perf_counter() - t0


def compare_distances(args, off_out: Path, t_official: float, hepgen_metrics: dict, fr, fg) -> None:
    """FPD and KPD: official (jetnet), hepgen on the official's arrays, hepgen evaluate on its own features."""
    from hepgen.evaluate.distances import fpd, kpd
    from hepgen.evaluate.features import multivariate_inputs

    dump = off_out / "captured"
    x, y = np.load(dump / "fpd_reference.npy"), np.load(dump / "fpd_generated.npy")
    official_fpd = json.loads((dump / "fpd_values.json").read_text())
    official_kpd = json.loads((dump / "kpd_values.json").read_text())
    print(f"official evaluate.py -m fpd -d 2 (FPD and KPD): {t_official:.1f} s; inputs {x.shape}, "
          f"kwargs {official_fpd['kwargs']} / {official_kpd['kwargs']}")
    t0 = time.perf_counter()
    f = fpd(x, y, min_samples=10_000)      # jetnet's draws with replacement, whatever the sample size
    k = kpd(x, y, batch_size=10_000)
    t_h = time.perf_counter() - t0
    own_x = multivariate_inputs(fr, fr.incident_energy)
    own_y = multivariate_inputs(fg, fg.incident_energy)
    if own_x.shape == x.shape and own_y.shape == y.shape:
        diff = f"{np.abs(own_x - x).max():.3g}, {np.abs(own_y - y).max():.3g}"
    else:
        diff = f"shapes differ: hepgen {own_x.shape}, official {x.shape}"
    print(f"hepgen FPD + KPD on the official's arrays: {t_h:.1f} s; max |hepgen features - official features| "
          f"(reference, generated): {diff}")
    jf = f.notes["jetnet_curve_fit"]
    of, ok = official_fpd["values"], official_kpd["values"]
    hf, hk = hepgen_metrics["fpd"], hepgen_metrics["kpd"]
    rows = [("FPD (jetnet's curve_fit)", of, (jf["value"], jf["error"])),
            ("FPD (least-squares intercept)", of, tuple(f)),
            ("KPD", ok, tuple(k))]
    print("| quantity | official (jetnet) | hepgen, official's arrays | rel. difference | "
          "hepgen evaluate, own features |")
    print("|---|---|---|---|---|")
    for name, o, h in rows:
        own = hf if name.startswith("FPD") else hk
        rel = abs(h[0] - o[0]) / max(abs(o[0]), 1e-300)
        print(f"| {name} | {o[0]:.10g} ± {o[1]:.4g} | {h[0]:.10g} ± {h[1]:.4g} | {rel:.2g} | "
              f"{own['value']} ± {own['error']} |")
    for name, r in (("FPD", f), ("KPD", k)):
        if r.notes["reason"] or r.notes["excluded_features"]:
            print(f"hepgen {name} on the official's arrays: reason {r.notes['reason']}, "
                  f"left out {[e['index'] for e in r.notes['excluded_features']]}")
    for name, r in (("FPD", hf), ("KPD", hk)):
        print(f"hepgen evaluate {name}: reason {r.get('reason')}, left out "
              f"{[e['index'] for e in r.get('excluded_features') or []]}")


def compare_prdc(args, off_out: Path, t_official: float, hepgen_metrics: dict) -> None:
    """PRDC: the official values beside hepgen's on the same arrays, and hepgen evaluate's own definition."""
    from hepgen.evaluate.metrics import prdc

    dump = off_out / "captured"
    x, y = np.load(dump / "prdc_reference.npy"), np.load(dump / "prdc_generated.npy")
    official = json.loads((dump / "prdc_values.json").read_text())
    t0 = time.perf_counter()
    mine = prdc(x, y, k=official["kwargs"].get("nearest_k", 5), max_samples=max(len(x), len(y)))
    t_h = time.perf_counter() - t0
    print(f"official evaluate.py -m prdc -d 2: {t_official:.1f} s; inputs {x.shape} (log10 voxels); "
          f"hepgen's prdc on them: {t_h:.1f} s")
    print("| quantity | official (prdc package) | hepgen, official's arrays | abs. difference | "
          "hepgen evaluate (std. high-level inputs) |")
    print("|---|---|---|---|---|")
    for key in ("precision", "recall", "density", "coverage"):
        o = official["values"][key]
        print(f"| {key} | {o:.10g} | {mine[key]:.10g} | {abs(mine[key] - o):.2g} | {hepgen_metrics['prdc'][key]:.4g} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official-code", type=Path, required=True, help="the CaloChallenge repository's code/ folder")
    ap.add_argument("--official-python", default=sys.executable,
                    help="interpreter of an environment with the official code's requirements (jetnet, prdc, torch)")
    ap.add_argument("--modes", default="hist", help="comma-separated official modes: hist, fpd (FPD and KPD), prdc")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--skip-official", action="store_true")
    ap.add_argument("--skip-inprocess", action="store_true",
                    help="skip the second, in-process timing of features + histograms alone")
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    modes = ["fpd" if m == "kpd" else m for m in modes]
    modes = list(dict.fromkeys(modes))
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
    hepgen_metrics = json.loads((out / "metrics.json").read_text())
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
    for mode in modes:
        off_out, t_official = run_official(args, mode, ref_path, gen_path)
        if mode == "fpd":
            compare_distances(args, off_out, t_official, hepgen_metrics, fr, fg)
        elif mode == "prdc":
            compare_prdc(args, off_out, t_official, hepgen_metrics)
        elif mode == "hist":
            compare_hist(args, off_out, t_official, t_hepgen_cli, res, fr, ref_path)
        print(f"load: {os.getloadavg()}", flush=True)


def compare_hist(args, off_out: Path, t_official: float, t_hepgen_cli: float, res: dict, fr, ref_path: Path) -> None:
    """Separation powers and high-level features of the official hist mode beside hepgen's."""
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

    with open(ref_path.with_suffix(".pkl"), "rb") as f:
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
