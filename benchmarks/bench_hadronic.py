"""Parameterised hadronic (pion) simulator: validation against textbook facts and speed (Markdown to stdout).

Run: PYTHONPATH=src python benchmarks/bench_hadronic.py [--quick]
Targets: issue 22 part 1 (shower start exponential in lambda_I, e/pi of a non-compensating steel/scintillator
calorimeter, CALICE AHCAL pion resolution ~58 %/sqrt(E) (+) 1.6 % (JINST 7 (2012) P09017, arXiv:1207.4210),
leakage, >= 200 showers/s at 50 GeV in ild-ahcal on one core).
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core

import numpy as np
from scipy.optimize import curve_fit

from hepgen.geometry import Slab
from hepgen.geometry.cartesian import CartesianGeometry
from hepgen.simulate import simulate_showers
from hepgen.simulate.gflash import block_rng
from hepgen.simulate.hadronic import get_tune, hadronic_detector, mean_em_fraction, simulate_block

QUICK = "--quick" in sys.argv
N = 128 if QUICK else 512
TUNES = ("hadronic-a", "hadronic-b")


def fe_scint(name: str, n_layers: int, cells: int, cell_mm: float) -> CartesianGeometry:
    """The ILD AHCAL sampling cell (17.2 mm Fe + 3 mm scintillator), other depth and width."""
    stack = tuple((Slab("Fe", 17.2), Slab("Scintillator", 3.0, True)) for _ in range(n_layers))
    return CartesianGeometry(name, cells, cells, n_layers, (cell_mm, cell_mm), layer_stack=stack)


def run(det, energy_gev: float, n: int, tune: str, seed: int = 1):
    """(visible energy sums (MeV), layer sums (n, layers), first-interaction depths d0 in lambda) of n pions."""
    sums, layers, d0 = [], [], []
    for k in range(-(-n // 32)):
        par: dict = {}
        out = simulate_block(det, np.full(32, energy_gev * 1e3), block_rng(seed, k), tune=tune, parameters=par)
        sums.append(out.sum(axis=1))
        lay = det.geometry.layer_of_voxel
        layers.append(np.stack([np.bincount(lay, weights=o, minlength=det.geometry.n_layers) for o in out]))
        d0.append(par["d0"])
    return np.concatenate(sums)[:n], np.concatenate(layers)[:n], np.concatenate(d0)[:n]


def truncated_exponential_slope(x, upper: float) -> float:
    """Maximum-likelihood decay length of an exponential observed on [0, upper)."""
    from scipy.optimize import brentq

    m = float(np.mean(x))
    return brentq(lambda lam: lam - upper / np.expm1(upper / lam) - m, 2e-2 * upper, 1e3 * upper)


def resolution_fit(e, r):
    (a, c), _ = curve_fit(lambda x, a, c: np.sqrt(a**2 / x + c**2), e, r, p0=(0.5, 0.02), bounds=([0, 0], [5, 1]))
    return a, c


def core_width(v: np.ndarray) -> float:
    """sigma/mean of the Gaussian core: mean and standard deviation iterated within +-2 sigma."""
    m, s = v.mean(), v.std()
    for _ in range(20):
        x = v[np.abs(v - m) < 2 * s]
        m, s = x.mean(), x.std()
    return float(s / m)


def main() -> None:
    ahcal = hadronic_detector("ild-ahcal")
    deep = hadronic_detector(fe_scint("fe-scint-deep", 150, 31, 60.0))     # 16 lambda deep, 1.86 m wide
    sf = ahcal.sampling_fraction
    lam_mm = ahcal.lambda_int_mm
    print(f"ild-ahcal: {ahcal.geometry.n_layers} layers, {ahcal.step_lambda[-1, 1]:.2f} lambda_I deep "
          f"(lambda_I of the stack {lam_mm:.1f} mm), sampling fraction e_hat * f_mip = {sf:.4f}, "
          f"MIP peak in 3 mm scintillator {ahcal.layer_response[0].mpv_mev:.3f} MeV\n")

    print("### Shower start (50 GeV, hadronic-a): exponential in lambda_I\n")
    vis, lay, d0 = run(ahcal, 50.0, 4 * N, "hadronic-a", seed=2)
    mm = d0 * lam_mm
    inside = mm < ahcal.step_z_mm[-1]
    window = 4 * lam_mm     # fit the first 4 lambda_I (the start is seen only inside the detector)
    slope_fit = truncated_exponential_slope(mm[mm < window], window)
    # reconstructed start: front of the first of two consecutive layers with > 10 MIP (5 MeV) each
    above = lay > 10 * ahcal.layer_response[0].mpv_mev
    twice = above[:, :-1] & above[:, 1:]
    z_front = np.arange(48) * 20.2
    zs = z_front[np.argmax(twice, axis=1)[twice.any(axis=1)]]
    slope_reco = truncated_exponential_slope(zs[zs < window], window)
    print("| quantity | value | expected |\n|---|---|---|")
    print(f"| mean first-interaction depth (all, mm) | {mm.mean():.1f} | lambda_I = {lam_mm:.1f} |")
    print(f"| exponential slope of the drawn depths, 0-4 lambda_I (mm) | {slope_fit:.1f} | {lam_mm:.1f} |")
    print(f"| exponential slope of the reconstructed start (first 2 layers > 10 MIP) (mm) | {slope_reco:.1f} | "
          f"{lam_mm:.1f} |")
    print(f"| pions passing without interaction (punch-through) | {np.mean(~inside):.4f} | "
          f"exp(-{ahcal.step_lambda[-1, 1]:.2f}) = {np.exp(-ahcal.step_lambda[-1, 1]):.4f} |")

    print("\n### Electromagnetic fraction <f_em> = 1 - (E/E0)^(k-1) (Groom 2007; PDG 'Calorimetry')\n")
    print("| E (GeV) | tune | formula | sampled (4000) | sigma(f_em) |\n|---|---|---|---|---|")
    from hepgen.simulate.hadronic import sample_shower_parameters
    for tune in TUNES:
        for e in (10.0, 20.0, 50.0, 100.0):
            p = sample_shower_parameters(np.full(4000, e), np.random.default_rng(5), tune)
            print(f"| {e:g} | {tune} | {float(mean_em_fraction(e, tune)):.3f} | {p['f_em'].mean():.3f} | "
                  f"{p['f_em'].std():.3f} |")

    print("\n### e/pi response ratio (steel/scintillator; textbook ~1.1-1.25 at 10-100 GeV for e/h ~ 1.3-1.4)\n")
    print("e: GFlash electrons in the same detector; pi: visible energy of all pions; 'contained': a 16 lambda deep, "
          "1.86 m wide version of the AHCAL cell; formula: (e/h) / (1 + <f_em> (e/h - 1)).\n")
    print("| E (GeV) | tune | e/pi formula | e/pi contained | e/pi ild-ahcal | leakage ild-ahcal |\n"
          "|---|---|---|---|---|---|")
    for tune in TUNES:
        eh = get_tune(tune).e_over_h
        for e in (10.0, 20.0, 50.0, 80.0):
            seed = 30 + int(e)
            el = simulate_showers("ild-ahcal", np.full(N // 2, e * 1e3), "electron", seed=seed).visible_energy.mean()
            pi_c = run(deep, e, N, tune, seed=seed)[0].mean()
            pi_a = run(ahcal, e, N, tune, seed=seed)[0].mean()
            f = float(mean_em_fraction(e, tune))
            print(f"| {e:g} | {tune} | {eh / (1 + f * (eh - 1)):.3f} | {el / pi_c:.3f} | {el / pi_a:.3f} | "
                  f"{1 - pi_a / pi_c:.3f} |")

    print("\n### Containment in the deep, wide Fe/scintillator stack (50 GeV, hadronic-a)\n")
    vis, lay, d0 = run(deep, 50.0, N, "hadronic-a", seed=4)
    z = np.cumsum(np.full(150, 20.2)) / lam_mm      # back face of each layer, lambda
    cum = np.cumsum(lay.mean(axis=0)) / lay.mean(axis=0).sum()
    l95 = float(np.interp(0.95, cum, z))
    pdg = 0.2 * np.log(50.0) + 0.7 + 2.5 * 50.0**0.13
    print("| quantity | model | textbook |\n|---|---|---|")
    print(f"| depth containing 95 % of the mean energy, from the front (lambda_I) | {l95:.2f} | "
          f"t_max + 2.5 lambda_att = {pdg:.2f} (PDG 'Calorimetry', after Fabjan) |")
    out = simulate_block(deep, np.full(64, 50e3), block_rng(4, 0))
    pos = deep.geometry.voxel_positions()
    r = np.hypot(pos["x"], pos["y"])
    within = out[:, r < lam_mm].sum() / out.sum()
    print(f"| fraction within a cylinder of radius 1 lambda_I | {within:.3f} | ~0.95 (PDG 'Calorimetry') |")

    print("\n### ILD AHCAL pion resolution (CALICE: ~58 %/sqrt(E) (+) 1.6 %, arXiv:1207.4210)\n")
    print("sigma/mean of the visible energy (RMS) and of its Gaussian core (iterated +-2 sigma); 'early': first "
          "interaction within the first 5 layers (0.53 lambda_I), which limits the longitudinal leakage (CALICE used "
          "a tail catcher behind the AHCAL and Gaussian fits).\n")
    print("| E (GeV) | tune | RMS all | RMS early | core early | CALICE fit |\n|---|---|---|---|---|---|")
    energies = np.array([10.0, 20.0, 40.0, 60.0, 80.0])
    fits = []
    for tune in TUNES:
        r_early, c_early = [], []
        for e in energies:
            vis, _, d0 = run(ahcal, e, 4 * N, tune, seed=60 + int(e))
            early = vis[d0 < ahcal.step_lambda[4, 1]]
            r_early.append(early.std() / early.mean())
            c_early.append(core_width(early))
            calice = np.hypot(0.58 / np.sqrt(e), 0.016)
            print(f"| {e:g} | {tune} | {vis.std() / vis.mean():.3f} | {r_early[-1]:.3f} | {c_early[-1]:.3f} | "
                  f"{calice:.3f} |")
        fits.append((tune, resolution_fit(energies, np.array(r_early)), resolution_fit(energies, np.array(c_early))))
    print()
    for tune, (a, c), (ac, cc) in fits:
        print(f"{tune}, early starters: RMS a = {a * 100:.1f} %/sqrt(GeV), c = {c * 100:.1f} %; core a = "
              f"{ac * 100:.1f} %/sqrt(GeV), c = {cc * 100:.1f} % (CALICE ~58 %, 1.6 %)")
    print()

    print("### Speed: 50 GeV pions, one core\n")
    print("| detector | showers | s | showers/s |\n|---|---|---|---|")
    for geo, n in (("ild-ahcal", 2048 if not QUICK else 512), ("calochallenge-1-pions", 2048 if not QUICK else 512)):
        simulate_showers(geo, np.full(64, 50e3), "pion", seed=0)   # warm-up (detector model, caches)
        t0 = time.perf_counter()
        simulate_showers(geo, np.full(n, 50e3), "pion", seed=1)
        dt = time.perf_counter() - t0
        print(f"| {geo} | {n} | {dt:.2f} | {n / dt:.0f} |")


if __name__ == "__main__":
    main()
