"""GFlash reference simulator: physics validation and speed (writes a Markdown fragment to stdout).

Run: PYTHONPATH=src python benchmarks/bench_gflash.py [--quick]
Targets: issue 3 (PDG shower maximum and containment, CALICE SiW ECAL resolution 16.6 %/sqrt(E) (+) 1.1 %,
speed >= 1000 showers/s at 50 GeV in ild-ecal and >= 100 showers/s at 1 TeV in calochallenge-2, one core).
"""

from __future__ import annotations

import os
import resource
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: numpy is single-threaded here anyway

import numpy as np
from scipy.optimize import curve_fit

from hepgen.geometry import geometry_from_spec
from hepgen.geometry.materials import get_material, sampling_structure
from hepgen.simulate import detector_model, simulate_showers
from hepgen.simulate.parameterisation import longitudinal_parameters, sample_profiles

QUICK = "--quick" in sys.argv
N = 100 if QUICK else 300


def homogeneous(mat, n_layers, step_x0, r_edges=(0.0, 1e5)):
    x0 = get_material(mat).x0_mm
    return geometry_from_spec({"type": "cylindrical", "name": f"bench-{mat}-{n_layers}", "n_alpha": 1,
                               "r_edges": [list(r_edges)] * n_layers,
                               "layers": [{"repeat": n_layers, "slabs": [{"material": mat,
                                                                          "thickness_mm": step_x0 * x0,
                                                                          "active": True}]}]})


def t_max(geo, energy, particle, n, step):
    prof = simulate_showers(geo, np.full(n, energy), particle, seed=1).layer_energy().mean(axis=0)
    i = int(np.argmax(prof))
    y0, y1, y2 = prof[i - 1:i + 2]
    return (i + 0.5 + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)) * step


def main() -> None:
    print("### Shower maximum C = t_max - ln(E/E_c) of the mean profile (PDG: C_e = -0.5, C_gamma = +0.5)\n")
    print("| material | E (GeV) | C electron | C photon |\n|---|---|---|---|")
    for mat in ("W", "CsI"):
        geo, ec = homogeneous(mat, 120, 0.25), get_material(mat).critical_energy_mev
        for e in (1e3, 1e4, 1e5, 1e6):
            ce = t_max(geo, e, "electron", N, 0.25) - np.log(e / ec)
            cg = t_max(geo, e, "photon", N, 0.25) - np.log(e / ec)
            print(f"| {mat} | {e / 1e3:g} | {ce:+.2f} | {cg:+.2f} |")

    rm = get_material("W").moliere_radius_mm
    geo = homogeneous("W", 10, 4.0, (0, rm, 2 * rm, 3.5 * rm, 200 * rm))
    print("\n### Radial containment in homogeneous W, electrons (PDG: 90 % in 1 R_M, 95 % in 2 R_M)\n")
    print("| E (GeV) | in 1 R_M | in 2 R_M | in 3.5 R_M |\n|---|---|---|---|")
    for e in (1e4, 1e5):
        s = simulate_showers(geo, np.full(N, e), "electron", seed=2)
        c = np.cumsum(s.energy.reshape(len(s), 10, 4).sum(axis=(0, 1)))
        c = c / c[-1]
        print(f"| {e / 1e3:g} | {c[0]:.3f} | {c[1]:.3f} | {c[2]:.3f} |")

    print("\n### Fluctuations of ln T, ln alpha (sampling form, ds2 cell, E = 50 GeV, 40000 draws)\n")
    det = detector_model("calochallenge-2")
    m = det.medium
    ln_y = np.full(40000, np.log(5e4 / m.critical_energy_mev))
    par = longitudinal_parameters(ln_y, m.z_eff, m.f_s, m.e_hat)
    d = sample_profiles(par, np.random.default_rng(0))
    lt, la = np.log(d["t"]), np.log(d["alpha"])
    print("| quantity | parameterisation | simulated |\n|---|---|---|")
    print(f"| sigma(ln T) | {par['sigma_ln_t'][0]:.4f} | {lt.std():.4f} |")
    print(f"| sigma(ln alpha) | {par['sigma_ln_alpha'][0]:.4f} | {la.std():.4f} |")
    print(f"| rho(ln T, ln alpha) | {par['rho'][0]:.4f} | {np.corrcoef(lt, la)[0, 1]:.4f} |")

    print("\n### ILD SiW ECAL photons: resolution and linearity (CALICE: 16.6 %/sqrt(E) (+) 1.1 %)\n")
    energies = (5e3, 1e4, 2e4, 5e4, 1e5)
    w = np.where(np.arange(30) < 20, 1.0, 2.0)
    rows = {"raw": [], "weighted": []}
    print("| E (GeV) | E_vis/E (raw) | sigma/E raw | E_cal/E (1:2 weights) | sigma/E weighted |\n|---|---|---|---|---|")
    for e in energies:
        s = simulate_showers("ild-ecal", np.full(10 * N, e), "photon", seed=3)
        le = s.layer_energy()
        raw, cal = le.sum(axis=1), le @ w
        rows["raw"].append((raw.mean() / e, raw.std() / raw.mean()))
        rows["weighted"].append((cal.mean() / e, cal.std() / cal.mean()))
        print(f"| {e / 1e3:g} | {raw.mean() / e:.5f} | {raw.std() / raw.mean():.4f} | {cal.mean() / e:.5f} | "
              f"{cal.std() / cal.mean():.4f} |")
    eg = np.array(energies) / 1e3
    for key, vals in rows.items():
        res = np.array([v[1] for v in vals])
        (a, c), _ = curve_fit(lambda x, a, c: np.sqrt(a**2 / x + c**2), eg, res, p0=(0.15, 0.01))
        lin = np.array([v[0] for v, e in zip(vals, energies) if 1e4 <= e <= 1e5])
        print(f"\n{key}: stochastic term a = {abs(a) * 100:.1f} %/sqrt(GeV), constant c = {abs(c) * 100:.2f} %, "
              f"linearity 10-100 GeV: max/min - 1 = {(lin.max() / lin.min() - 1) * 100:.2f} %")

    print("\n### calochallenge-2 electrons per decade (threshold 15.15 keV)\n")
    det = detector_model("calochallenge-2")
    cell = sampling_structure(det.geometry.layer_stack[0][:2])
    print(f"sampling fraction from the materials: f_mip = {cell.f_mip:.4f}, e/mip = {cell.e_hat:.3f}, "
          f"e_hat * f_mip = {cell.visible_fraction:.4f}\n")
    print("| E_inc (GeV) | mean voxels > threshold | mean E_dep/E_inc |\n|---|---|---|")
    rng = np.random.default_rng(4)
    for lo, hi in ((1, 10), (10, 100), (100, 1000)):
        e = np.exp(rng.uniform(np.log(lo * 1e3), np.log(hi * 1e3), N))
        s = simulate_showers("calochallenge-2", e, "electron", seed=5)
        print(f"| {lo}-{hi} | {s.n_hits(0.0).mean():.0f} | {(s.visible_energy / e).mean():.4f} |")

    print("\n### Speed (one thread)\n")
    print("| case | showers | wall s | showers/s (wall) | CPU s | showers/s (CPU time) |\n|---|---|---|---|---|---|")
    for geo, e, n, part in (("ild-ecal", 5e4, 2 * N, "photon"), ("calochallenge-2", 1e6, N, "electron")):
        simulate_showers(geo, np.full(32, e), part, seed=0)
        t, c = time.perf_counter(), time.process_time()
        simulate_showers(geo, np.full(n, e), part, seed=6)
        dt, dc = time.perf_counter() - t, time.process_time() - c
        print(f"| {geo} {part} {e / 1e3:g} GeV | {n} | {dt:.2f} | {n / dt:.0f} | {dc:.2f} | {n / dc:.0f} |")
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; load {os.getloadavg()}")


if __name__ == "__main__":
    main()
