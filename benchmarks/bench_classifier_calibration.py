"""Calibration of the classifier tests: AUC of same-distribution pairs and of planted defects versus N.

GFlash calochallenge-2 electrons, log-uniform 1 GeV - 1 TeV. For every seed s two independent samples
(reference and "other") are simulated; the other sample is compared as it is (null) and with a planted
defect:

* ``scale``: every voxel x 1.05;
* ``layer_scale``: voxels of layers 8-12 (about a third of the energy, around the shower maximum) x 1.05;
* ``dead_ring``: the 16 voxels of radial bin 1 in layer 8 set to 0;
* ``wider``: every layer's radial profile stretched by 1.1 (cumulative energy in r interpolated at r / 1.1;
  energy pushed past the last edge is lost).

Each run is ``recipe:level:N,N,...:n_seeds``. Beside the classifiers, for ``scale`` the AUC of the
physicist's one-line statistic z = (E_vis/E_inc - mu(E_inc)) / sigma(E_inc), mu and sigma fitted on the
reference sample, is computed on the same N showers per sample (no training).

    OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 \
        python benchmarks/bench_classifier_calibration.py --runs default:high:200,500,2000,10000:5 \
        default:low:200,500,2000:5 official:high:200,500:3 official:low:200,500:2 \
        --out docs/benchmarks/classifier_calibration.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from hepgen.evaluate.classifier import classifier_test, fit_preprocessing, low_level_inputs
from hepgen.evaluate.highlevel import classifier_highlevel_inputs, highlevel_features
from hepgen.evaluate.observables import apply_threshold
from hepgen.geometry import get_geometry
from hepgen.simulate.gflash import simulate_showers
from hepgen.units import parse_energy

GEOMETRY = "calochallenge-2"
THRESHOLD_MEV = 0.01515
CASES = ("null", "scale", "layer_scale", "dead_ring", "wider")


def sample(n: int, seed: int):
    inc = parse_energy("log-uniform:1GeV:1TeV").sample(n, seed=50_000 + seed)
    s = simulate_showers(GEOMETRY, inc, "electron", seed=seed)
    return s.incident_energy, s.energy


def plant(case: str, energy: np.ndarray, geo) -> np.ndarray:
    idx = geo.voxel_indices()
    if case == "null":
        return energy
    if case == "scale":
        return energy * np.float32(1.05)
    if case == "layer_scale":
        f = np.where((idx[:, 0] >= 8) & (idx[:, 0] <= 12), 1.05, 1.0).astype(np.float32)
        return energy * f
    if case == "dead_ring":
        out = energy.copy()
        out[:, (idx[:, 0] == 8) & (idx[:, 2] == 1)] = 0.0
        return out
    if case == "wider":
        out = energy.copy()
        for layer in range(geo.n_layers):
            sl = geo.layer_slice(layer)
            if sl.stop == sl.start:
                continue
            edges = np.asarray(geo.r_edges[layer])
            e = energy[:, sl].reshape(len(energy), geo.n_alpha[layer], len(edges) - 1).astype(np.float64)
            cum = np.concatenate([np.zeros(e.shape[:2] + (1,)), np.cumsum(e, axis=2)], axis=2)
            pos = np.interp(edges / 1.1, edges, np.arange(len(edges)))        # fractional bin of r / 1.1
            lo = np.floor(pos).astype(int).clip(0, len(edges) - 2)
            frac = pos - lo
            c_new = cum[..., lo] + frac * (cum[..., lo + 1] - cum[..., lo])
            out[:, sl] = np.diff(c_new, axis=2).reshape(len(energy), -1).astype(np.float32)
        return out
    raise ValueError(case)


def inputs(inc, energy, geo, level):
    e = apply_threshold(energy, THRESHOLD_MEV)
    if level == "low":
        return low_level_inputs(e, inc)
    return classifier_highlevel_inputs(highlevel_features(e, geo), inc, geo).astype(np.float32)


def physics_auc(ref_inc, ref_e, oth_inc, oth_e):
    """AUC of z = (E_vis/E_inc - mu) / sigma given log10 E_inc, mu and sigma fitted on the reference."""
    from sklearn.metrics import roc_auc_score

    from hepgen.evaluate.classifier import hanley_mcneil_error

    def cols(inc, e):
        return np.stack([np.log10(inc), apply_threshold(e, THRESHOLD_MEV).sum(axis=1) / inc], axis=1)

    f = fit_preprocessing(cols(ref_inc, ref_e), "conditional")
    zr, zo = f(cols(ref_inc, ref_e))[:, 1], f(cols(oth_inc, oth_e))[:, 1]
    auc = float(roc_auc_score(np.r_[np.zeros(len(zr)), np.ones(len(zo))], np.r_[zr, zo]))
    return auc, hanley_mcneil_error(auc, len(zo), len(zr))


def table(path: Path) -> str:
    """Markdown table of a result file: AUC mean +- spread over seeds (number of seeds) per case, N, classifier."""
    d = json.loads(path.read_text())
    rows: dict = {}
    for r in d["classifier"]:
        rows.setdefault((r["case"], r["n"], r["recipe"], r["level"]), []).append(r["auc"])
    for r in d["physics_statistic"]:
        rows.setdefault((r["case"], r["n"], "physics z", "-"), []).append(r["auc"])
    cols = sorted({k[2:] for k in rows}, key=lambda c: (c[0] == "physics z", c[0], c[1]))
    ns = sorted({k[1] for k in rows})
    head = "| case | N | " + " | ".join(f"{r} {lv}" if lv != "-" else r for r, lv in cols) + " |"
    lines = [head, "|---|---|" + "---|" * len(cols)]
    for case in [c for c in CASES if any(k[0] == c for k in rows)]:
        for n in ns:
            cells = []
            for c in cols:
                v = rows.get((case, n) + c)
                cells.append("" if not v else f"{np.mean(v):.3f} ± {np.std(v):.3f} ({len(v)})")
            if any(cells):
                lines.append(f"| {case} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", type=Path, help="Only print the markdown table of this result file.")
    ap.add_argument("--runs", nargs="+", default=["default:high:200,500,2000,10000:5", "default:low:200,500,2000,10000:5",
                                                   "official:high:200,500,2000,10000:5",
                                                   "official:low:200,500,2000,10000:5"])
    ap.add_argument("--cases", nargs="+", default=list(CASES))
    ap.add_argument("--out", type=Path, default=Path("docs/benchmarks/classifier_calibration.json"))
    args = ap.parse_args()
    if args.table:
        print(table(args.table))
        return
    geo = get_geometry(GEOMETRY)
    plan = []
    for spec in args.runs:
        recipe, level, ns, seeds = spec.split(":")
        plan += [(recipe, level, int(n), s) for n in ns.split(",") for s in range(int(seeds))]
    seeds = sorted({s for *_, s in plan})
    n_max = {s: max(n for _, _, n, t in plan if t == s) for s in seeds}
    meta = {"command": "python benchmarks/bench_classifier_calibration.py --runs " + " ".join(args.runs),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": platform.processor()
            or platform.machine(), "cpus": os.cpu_count(), "omp_threads": os.environ.get("OMP_NUM_THREADS"),
            "load_start": os.getloadavg(), "geometry": GEOMETRY, "particle": "electron",
            "energies": "log-uniform:1GeV:1TeV", "threshold_mev": THRESHOLD_MEV, "cases": args.cases}
    results, physics = [], []

    def save():
        meta["load_end"] = os.getloadavg()
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps({"meta": meta, "classifier": results, "physics_statistic": physics}, indent=1))
        tmp.replace(args.out)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    showers: dict = {}
    done_physics = set()
    for recipe, level, n, s in plan:                    # in the order of --runs: cheap runs first
        if s not in showers:
            t0 = time.time()
            showers[s] = (sample(n_max[s], 2 * s + 1), sample(n_max[s], 2 * s + 2))
            print(f"seed {s}: simulated 2 x {n_max[s]} showers in {time.time() - t0:.0f} s", flush=True)
        ref, oth = showers[s]
        ri, re = ref[0][:n], ref[1][:n]
        xr = inputs(ri, re, geo, level)
        for case in args.cases:
            oi, oe = oth[0][:n], plant(case, oth[1][:n], geo)
            if case == "scale" and (n, s) not in done_physics:
                done_physics.add((n, s))
                auc, err = physics_auc(ri, re, oi, oe)
                physics.append({"case": case, "n": n, "seed": s, "auc": auc, "auc_error": err})
            t = time.time()
            r = classifier_test(xr, inputs(oi, oe, geo, level), seed=s, recipe=recipe, level=level)
            r.update(case=case, n=n, level=level, seconds=round(time.time() - t, 1))
            results.append(r)
            print(f"N={n} seed={s} {case:11s} {recipe:8s} {level:4s} AUC {r['auc']:.3f} +- "
                  f"{r['auc_error']:.3f} epoch {r['best_epoch']} {r['seconds']} s", flush=True)
            save()
    save()


if __name__ == "__main__":
    main()
