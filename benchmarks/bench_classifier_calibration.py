"""Calibration of the classifier tests: AUC of same-distribution pairs and of planted defects versus N.

GFlash calochallenge-2 electrons, log-uniform 1 GeV - 1 TeV. For every seed s two independent samples
(reference and "other") are simulated; the other sample is compared as it is (null) and with a planted
defect:

* ``scale``: every voxel x 1.05;
* ``layer_scale``: voxels of layers 8-12 (about a third of the energy, around the shower maximum) x 1.05;
* ``dead_ring``: the 16 voxels of radial bin 1 in layer 8 set to 0;
* ``wider``: every layer's radial profile stretched by 1.1 (cumulative energy in r interpolated at r / 1.1;
  energy pushed past the last edge is lost).

Each run is ``recipe:level:N,N,...:n_seeds``. Beside the classifiers, for every defect the AUC of a
physicist's one-line statistic is computed on the same N showers per sample (no training):
z = (obs - mu(E_inc)) / sigma(E_inc) with mu and sigma fitted on the reference, obs = E_vis/E_inc (scale),
E(layers 8-12)/E_inc (layer_scale), the energy-weighted mean radius (wider); for dead_ring the ring's
energy itself (the defect sets it to 0). These statistics target the planted defect, so their AUC is close
to (a lower bound on) the ideal one; ``--physics-only`` computes just them.

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


def physics_columns(case: str, inc: np.ndarray, energy: np.ndarray, geo) -> np.ndarray:
    """(log10 E_inc, one physics observable) per shower: the one-line statistic for a planted defect.

    scale: E_vis/E_inc; layer_scale: E(layers 8-12)/E_inc; dead_ring: E(layer 8, radial bin 1) (MeV);
    wider: the energy-weighted mean radius (mm) over all voxels.
    """
    e = apply_threshold(energy, THRESHOLD_MEV).astype(np.float64)
    idx = geo.voxel_indices()
    if case == "scale":
        obs = e.sum(axis=1) / inc
    elif case == "layer_scale":
        obs = e[:, (idx[:, 0] >= 8) & (idx[:, 0] <= 12)].sum(axis=1) / inc
    elif case == "dead_ring":
        obs = e[:, (idx[:, 0] == 8) & (idx[:, 2] == 1)].sum(axis=1)
    elif case == "wider":
        r = geo.voxel_positions()["r"]
        obs = (e * r[None, :]).sum(axis=1) / np.maximum(e.sum(axis=1), 1e-12)
    else:
        raise ValueError(case)
    return np.stack([np.log10(inc), obs], axis=1)


def physics_auc(case: str, ref_inc, ref_e, oth_inc, oth_e, geo) -> tuple[float, float]:
    """AUC of the one-line statistic of ``case`` given E_inc: z = (obs - mu(E_inc)) / sigma(E_inc), mu and
    sigma fitted on the reference (dead_ring: the ring energy itself; the defect sets it to exactly 0).
    A physicist's statistic for the planted defect, so a lower bound on the ideal (likelihood-ratio) AUC."""
    from sklearn.metrics import roc_auc_score

    from hepgen.evaluate.classifier import hanley_mcneil_error

    cr, co = physics_columns(case, ref_inc, ref_e, geo), physics_columns(case, oth_inc, oth_e, geo)
    if case == "dead_ring":
        zr, zo = -cr[:, 1], -co[:, 1]
    else:
        f = fit_preprocessing(cr, "conditional")
        zr, zo = f(cr)[:, 1], f(co)[:, 1]   # every planted defect raises its observable: no sign to choose
    auc = float(roc_auc_score(np.r_[np.zeros(len(zr)), np.ones(len(zo))], np.r_[zr, zo]))
    return auc, hanley_mcneil_error(auc, len(zo), len(zr))


def table(paths: list[Path]) -> str:
    """Markdown table of result files: AUC mean +- spread over seeds (number of seeds) per case, N, classifier.
    A (case, N, classifier, seed) cell found in several files is counted once (the last file wins)."""
    cells: dict = {}
    for path in paths:
        d = json.loads(path.read_text())
        for r in d["classifier"]:
            cells[(r["case"], r["n"], r["recipe"], r["level"], r["seed"])] = r["auc"]
        for r in d["physics_statistic"]:
            cells[(r["case"], r["n"], "physics z", "-", r["seed"])] = r["auc"]
    rows: dict = {}
    for k, auc in cells.items():
        rows.setdefault(k[:4], []).append(auc)
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
    ap.add_argument("--table", type=Path, nargs="+", help="Only print the markdown table of these result files.")
    ap.add_argument("--physics-only", action="store_true",
                    help="Only the one-line physics statistics (no classifier training) for the N and seeds of --runs.")
    ap.add_argument("--runs", nargs="+", default=["default:high:200,500,2000,10000:5",
                                                   "default:low:200,500,2000,10000:5",
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
    meta = {"command": "python benchmarks/bench_classifier_calibration.py --runs " + " ".join(args.runs)
            + (" --physics-only" if args.physics_only else ""),
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
        xr = None if args.physics_only else inputs(ri, re, geo, level)
        for case in args.cases:
            oi, oe = oth[0][:n], plant(case, oth[1][:n], geo)
            if case != "null" and (case, n, s) not in done_physics:
                done_physics.add((case, n, s))
                auc, err = physics_auc(case, ri, re, oi, oe, geo)
                physics.append({"case": case, "n": n, "seed": s, "auc": auc, "auc_error": err})
            if args.physics_only:
                continue
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
