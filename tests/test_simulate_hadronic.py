"""The parameterised hadronic (pion) simulator: the parameterisation's formulas, the shower start, the response."""

from dataclasses import replace

import numpy as np
import pytest
from scipy.special import gamma as gamma_fn

from hepgen.data import read_showers
from hepgen.errors import InputError
from hepgen.geometry import Slab, geometry_from_spec
from hepgen.geometry.cartesian import CartesianGeometry
from hepgen.simulate import simulate_showers, simulate_to_file
from hepgen.simulate.gflash import block_rng
from hepgen.simulate.hadronic import (BOCK, get_tune, hadronic_detector, mean_em_fraction, mean_longitudinal_profile,
                                      mean_profile_parameters, sample_shower_parameters, simulate_block)

AHCAL_SF = 0.02624   # visible fraction of the ILD AHCAL sampling cell (e_hat * f_mip)


def _fe_scint(name: str, n_layers: int, cells: int, cell_mm: float) -> CartesianGeometry:
    stack = tuple((Slab("Fe", 17.2), Slab("Scintillator", 3.0, True)) for _ in range(n_layers))
    return CartesianGeometry(name, cells, cells, n_layers, (cell_mm, cell_mm), layer_stack=stack)


def _quiet_tune():
    """hadronic-a without per-shower fluctuations (profile parameters at their means)."""
    return replace(get_tune("hadronic-a"), name="quiet", sigma_fem_10=1e-4, sigma_intrinsic=0.0, sigma_ln_alpha=0.0,
                   sigma_ln_beta_em=0.0, sigma_ln_beta_h=0.0)


def test_mean_parameters_are_the_formulas():
    e = np.array([10.0, 50.0, 100.0])
    a, be, bh = mean_profile_parameters(e, "hadronic-b")
    tb = get_tune("hadronic-b")
    assert np.allclose(a, (BOCK["a0"] + BOCK["a1"] * np.log(e)) * tb.alpha_scale)
    assert np.allclose(bh, (BOCK["d0"] + BOCK["d1"] * np.log(e)) * tb.beta_h_scale) and np.allclose(be, 0.2198)
    ta = get_tune("hadronic-a")
    assert np.allclose(mean_em_fraction(e), 1 - (e / ta.e0_gev) ** (ta.k - 1))
    assert mean_em_fraction(100.0, "hadronic-b") > mean_em_fraction(100.0, "hadronic-a")


def test_mean_profile_is_the_sum_of_the_two_gamma_densities():
    energy = 40.0
    a, be, bh = (float(v) for v in mean_profile_parameters(energy))
    f = float(mean_em_fraction(energy))
    lam_per_x0 = 0.107       # an iron-like medium: the same planes in lambda and in X0
    x = np.linspace(0.0, 12.0, 6001)   # depth in lambda behind the first interaction
    t = x / lam_per_x0
    dens = (f * be * (be * t) ** (a - 1) * np.exp(-be * t) / gamma_fn(a) / lam_per_x0
            + (1 - f) * bh * (bh * x) ** (a - 1) * np.exp(-bh * x) / gamma_fn(a))
    edges = np.linspace(0.0, 12.0, 61)
    prof = mean_longitudinal_profile(edges / lam_per_x0, edges, energy)
    mid = 0.5 * (x[1:] + x[:-1])
    numeric = np.histogram(mid, edges, weights=0.5 * (dens[1:] + dens[:-1]) * np.diff(x))[0]
    assert np.allclose(prof[1:], numeric[1:], atol=2e-4)          # first bin: integrable singularity at 0 if a < 1
    assert abs(mean_longitudinal_profile([0, 1e5], [0, 1e5], energy).sum() - 1.0) < 1e-9
    # the hadronic part alone peaks at (alpha - 1) / beta_h lambda
    had = mean_longitudinal_profile(np.zeros(61), edges, energy) / (1 - f)
    assert abs(edges[np.argmax(had)] + 0.1 - (a - 1) / bh) < 0.15


def test_shower_parameters_fluctuate_as_specified():
    rng = np.random.default_rng(3)
    e = np.full(40000, 20.0)
    p = sample_shower_parameters(e, rng)
    t = get_tune("hadronic-a")
    assert abs(p["f_em"].mean() - mean_em_fraction(20.0)) < 0.004
    assert abs(p["f_em"].std() - t.sigma_fem_10 * 2.0 ** -t.sigma_fem_slope) < 0.004
    assert 0.0 <= p["f_em"].min() and p["f_em"].max() <= 1.0
    assert abs(p["d0"].mean() - 1.0) < 0.02 and abs(p["d0"].std() - 1.0) < 0.03      # Exp(1) in lambda
    c = np.corrcoef(np.log(p["alpha"]), np.log(p["beta_h"]))[0, 1]
    assert abs(c - t.correlation[1][3]) < 0.03
    assert np.corrcoef(p["f_em"], np.log(p["beta_h"]))[0, 1] > 0.2


def test_simulated_layer_profile_follows_the_formula_behind_the_start():
    geo = _fe_scint("deep", 80, 21, 60.0)
    det = hadronic_detector(geo)
    tune = _quiet_tune()
    energy = 30.0
    got, want = np.zeros(80), np.zeros(80)
    for k in range(3):
        par: dict = {}
        out = simulate_block(det, np.full(32, energy * 1e3), block_rng(7, k), tune=tune, parameters=par)
        got += out.reshape(32, 80, -1).sum(axis=2).sum(axis=0)
        for d0 in par["d0"]:
            if d0 >= det.step_lambda[-1, 1]:
                continue
            t0 = np.interp(d0, det.step_lambda.ravel(), det.step_t.ravel())
            x0_edges = np.maximum(np.append(det.step_t[:, 0], det.step_t[-1, 1]) - t0, 0)
            lam_edges = np.maximum(np.append(det.step_lambda[:, 0], det.step_lambda[-1, 1]) - d0, 0)
            f = float(mean_em_fraction(energy, tune))
            a, be, bh = mean_profile_parameters(energy, tune)
            from scipy.special import gammainc
            em = np.diff(gammainc(a, be * x0_edges)) * f
            had = np.diff(gammainc(a, bh * lam_edges)) * (1 - f) / tune.e_over_h
            want += energy * 1e3 * (em + had) * det.step_visible
    # lateral leakage of the halo (a few %) and the MIP hits before the start: within 6 %
    assert abs(got.sum() / want.sum() - 1) < 0.06
    g, w = got / got.sum(), want / want.sum()
    assert np.abs(g - w).max() < 0.01 and np.argmax(g) == np.argmax(w)


def test_mip_track_before_the_first_interaction():
    det = hadronic_detector("ild-ahcal")
    par: dict = {}
    out = simulate_block(det, np.full(32, 20e3), block_rng(11, 0), parameters=par).reshape(32, 48, 25, 25)
    hits = []
    for i, d0 in enumerate(par["d0"]):
        before = np.flatnonzero(det.step_lambda[:, 1] <= d0)
        axis = out[i, before, 12, 12]
        assert np.all(axis > 0.05), (i, axis)                      # one Landau hit per layer crossed
        assert np.all(out[i, before].sum(axis=(1, 2)) == axis)     # and nothing else
        hits.append(axis)
    hits = np.concatenate(hits)
    assert len(hits) > 50 and 0.45 < np.median(hits) < 0.65      # ~0.5 MeV: the MIP peak of 3 mm scintillator


def test_response_e_over_pi_and_containment():
    wide = _fe_scint("wide", 120, 21, 60.0)
    ratios = {}
    for energy in (10.0, 50.0):
        e = np.full(96, energy * 1e3)
        pi = simulate_showers(wide, e, "pion", seed=4).visible_energy / AHCAL_SF
        f = float(mean_em_fraction(energy))
        assert abs(pi.mean() / e[0] / (f + (1 - f) / 1.4) - 1) < 0.04         # pi/e = f_em + (1 - f_em) h/e
        ahcal = simulate_showers("ild-ahcal", e, "pion", seed=4).visible_energy / AHCAL_SF
        leak = 1 - ahcal.mean() / pi.mean()
        assert 0.02 < leak < 0.2                                              # 5.1 lambda, 75 cm wide
        el = simulate_showers("ild-ahcal", e[:32], "electron", seed=4).visible_energy / AHCAL_SF
        ratios[energy] = el.mean() / pi.mean()
    assert 1.1 < ratios[10.0] < 1.35 and 1.05 < ratios[50.0] < ratios[10.0]


def test_tunes_differ_and_are_reproducible():
    e = np.full(64, 30e3)
    a = simulate_showers("ild-ahcal", e, "pion", seed=5, tune="hadronic-a")
    b = simulate_showers("ild-ahcal", e, "pi+", seed=5, tune="hadronic-b")
    assert b.visible_energy.mean() > a.visible_energy.mean()       # e/h 1.3 < 1.4 and more em
    c = simulate_showers("ild-ahcal", e, "pi-", seed=5, tune="hadronic-a", chunk_size=32)
    assert np.array_equal(a.energy, c.energy)


def test_calochallenge_pions_and_a_user_geometry():
    s = simulate_showers("calochallenge-1-pions", np.full(32, 50e3), "pion", seed=2)
    assert s.energy.shape == (32, 533) and s.geometry.layer_stack is None
    layer = s.geometry.layer_of_voxel
    tile = s.energy[:, np.isin(layer, [12, 13, 14])].sum(axis=1)
    ecal = s.energy[:, np.isin(layer, [0, 1, 2, 3])].sum(axis=1)
    assert (tile > 0).mean() > 0.8 and (ecal > 0).all()
    assert 0.5 < s.energy.sum(axis=1).mean() / 50e3 < 1.0          # EM-scale energies of a non-compensating detector
    user = geometry_from_spec({"type": "cartesian", "name": "toy-hcal", "nx": 9, "ny": 9, "nz": 20,
                               "cell_size_mm": [40.0, 40.0],
                               "layers": [{"repeat": 20, "slabs": [
                                   {"material": "Cu", "thickness_mm": 20.0},
                                   {"material": "Scintillator", "thickness_mm": 5.0, "active": True}]}]})
    u = simulate_showers(user, np.full(16, 20e3), "pion", seed=2, impact="gauss:10")
    assert u.energy.shape == (16, 9 * 9 * 20) and u.visible_energy.min() > 0


def test_cli_and_bad_input(tmp_path):
    from typer.testing import CliRunner

    from hepgen.cli import app

    out = tmp_path / "pions.h5"
    args = ["-q", "simulate", "-d", "ild-ahcal", "-p", "pion", "-e", "20GeV", "-n", "8", "-o", str(out), "--seed", "1",
            "--tune", "hadronic-b"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    s = read_showers(out)
    assert len(s) == 8 and s.energy.shape[1] == 30000
    import h5py
    with h5py.File(out) as f:
        assert f.attrs["tune"] == "hadronic-b" and f.attrs["particle"] == "pion"
    with pytest.raises(InputError, match="unknown hadronic tune 'qgsp'"):
        simulate_to_file(tmp_path / "x.h5", "ild-ahcal", "20GeV", 4, "pion", tune="qgsp", quiet=True)
    with pytest.raises(InputError, match="applies to pions"):
        simulate_to_file(tmp_path / "y.h5", "ild-ahcal", "20GeV", 4, "electron", tune="hadronic-a", quiet=True)
    bare = geometry_from_spec({"type": "cartesian", "name": "bare", "nx": 2, "ny": 2, "nz": 3, "cell_size_mm": [1, 1]})
    with pytest.raises(InputError, match="no physical layer stack"):
        simulate_showers(bare, np.array([1e4]), "pion")
