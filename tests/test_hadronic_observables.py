"""The pion evaluation: CALICE shower start, 0.5 MIP cut, transverse profiles, correlation matrices."""

from __future__ import annotations

import numpy as np
import pytest

from hepgen.data import ShowerData, write_showers
from hepgen.data.calice import shower_start_layer, start_layers, start_thresholds
from hepgen.errors import InputError
from hepgen.evaluate.features import compute_features
from hepgen.evaluate.hadronic import hadronic_features, hadronic_summary, hadronic_threshold_mev, mean_profiles
from hepgen.evaluate.observables import CORRELATION_OBSERVABLES, compare_correlations, correlation_names
from hepgen.geometry import get_geometry

GEO = get_geometry("calice-ahcal-2018")
MIP = 26.8


def test_start_thresholds_follow_the_formulas():
    e_thr, n_thr = start_thresholds(np.array([10.0, 40.0, 80.0, 160.0]))
    assert np.allclose(e_thr, [7.0, 10.0, 14.0, 22.0])
    assert n_thr.tolist() == [int(3.77 + 1.44 * np.log(e) + 0.5) for e in (10, 40, 80, 160)] == [7, 9, 10, 11]
    with pytest.raises(InputError, match="beam energies"):
        start_thresholds(np.array([0.0]))


def test_start_layer_on_hand_made_events():
    n_layers = 12
    e = np.full((6, n_layers), 1.4)
    n = np.ones((6, n_layers), int)
    e[1, 3:], n[1, 3:] = 80.0, 15           # hard start in layer 3
    e[2, 0:], n[2, 0:] = 80.0, 15           # starts in the first layer
    e[3, 5:], n[3, 5:] = 20.0, 15           # soft start in layer 5: the running mean needs one more layer
    e[4, 6:], n[4, 6:] = 80.0, 4            # much energy but few hits per layer (a dense track): no start
    e[5, 7], n[5, 7] = 80.0, 15             # one isolated hot layer: fires there
    start = shower_start_layer(e, n, 40.0)
    assert start.tolist() == [n_layers, 3, 0, 6, n_layers, 7]
    # window = 1: two consecutive layers above (6 + 4 MIP, hits 9); the soft shower starts where it starts
    assert shower_start_layer(e, n, 40.0, window=1).tolist() == [n_layers, 3, 0, 5, n_layers, 7]
    # higher beam energies raise both thresholds
    assert shower_start_layer(e, n, 1000.0, window=1).tolist()[3] == n_layers
    # an explicit threshold
    assert shower_start_layer(e, n, 40.0, window=1, energy_threshold_mip=200.0).tolist() == [n_layers] * 6
    with pytest.raises(InputError, match="expected \\(N, n_layers\\)"):
        shower_start_layer(e, n[:, :3], 40.0)


def cube(n):
    return np.zeros((n,) + GEO.shape, np.float32)


def test_start_layer_from_voxels_uses_the_half_mip_cut():
    c = cube(3)
    c[:, :, 12, 12] = 1.4 * MIP                       # the pion track through every layer
    c[1, 4:, 10:14, 10:14] = 5 * MIP                  # a shower from layer 4
    c[2, 4:, 10:14, 10:14] = 0.45 * MIP               # only sub-threshold hits: no shower for the finder
    energy = c.reshape(3, -1)
    start = start_layers(energy, np.full(3, 4e4), GEO)
    assert start.tolist() == [37, 4, 37]
    # at 0.2 MIP they count: 7.2 MIP per layer is a soft start, found late by the running mean over 6 layers
    assert start_layers(energy, np.full(3, 4e4), GEO, cut_mip=0.2).tolist() == [37, 4, 8]
    assert start_layers(energy, np.full(3, 4e4), GEO, cut_mip=0.2, window=1).tolist() == [37, 4, 5]   # 1.4 + 7.2 < 10
    fs = hadronic_features(ShowerData(np.full(3, 4e4), energy, GEO))
    assert fs.scalars["start_layer_calice"].tolist() == [37.0, 4.0, 37.0]


def test_half_mip_cut_and_transverse_profiles():
    c = cube(2)
    c[0, 0, 7, 3] = 0.6 * MIP                          # kept: J = 8, I = 4 in CALICE counting
    c[0, 1, 2, 20] = 0.4 * MIP                         # dropped by the 0.5 MIP cut
    c[1, 5, 7, 3] = 3.0 * MIP
    s = ShowerData(np.full(2, 8e4), c.reshape(2, -1), GEO)
    thr, mip = hadronic_threshold_mev(GEO)
    assert (thr, mip) == (13.4, 26.8) and GEO.evaluation_threshold_mev == 13.4
    fs = hadronic_features(s)
    assert fs.scalars["n_hits"].tolist() == [1.0, 1.0]
    assert np.allclose(fs.scalars["E_vis"], [0.6 * MIP, 3.0 * MIP], rtol=1e-6)
    p = mean_profiles(fs)
    assert p["x"].shape == (24,) and p["y"].shape == (24,) and p["longitudinal"].shape == (37,)
    assert np.flatnonzero(p["x"]).tolist() == [3] and np.flatnonzero(p["y"]).tolist() == [7]
    assert np.isclose(p["x"][3], 1.8 * MIP, rtol=1e-6) and np.flatnonzero(p["longitudinal"]).tolist() == [0, 5]
    # at the 0.2 MIP training cut the sub-threshold hit counts
    assert hadronic_features(s, cut_mip=0.2).scalars["n_hits"].tolist() == [2.0, 1.0]
    with pytest.raises(InputError, match="no known MIP value"):
        hadronic_threshold_mev("ild-ecal")
    assert hadronic_threshold_mev("ild-ecal", mip_mev=0.2) == (0.1, 0.2)


def test_correlation_matrix_on_known_correlated_data():
    rng = np.random.default_rng(7)
    n = 40_000
    cov = np.eye(12)
    cov[0, 1] = cov[1, 0] = 0.8
    cov[6, 8] = cov[8, 6] = -0.5
    x = rng.multivariate_normal(np.zeros(12), cov, n)
    ref = {name: x[:, i] for i, name in enumerate(CORRELATION_OBSERVABLES)}
    y = rng.multivariate_normal(np.zeros(12), np.eye(12), n)
    gen = {name: y[:, i] for i, name in enumerate(CORRELATION_OBSERVABLES)}
    r = compare_correlations(ref, gen)
    assert r["names"] == list(CORRELATION_OBSERVABLES)
    m = np.array(r["reference"])
    assert np.allclose(m, cov, atol=0.02)
    d = np.array(r["difference"])
    assert abs(d[0, 1] + 0.8) < 0.02 and abs(d[6, 8] - 0.5) < 0.02
    assert abs(r["max_abs_difference"] - 0.8) < 0.02 and r["error"] == pytest.approx(1 / np.sqrt(n))
    assert compare_correlations(ref, ref)["max_abs_difference"] == 0.0
    # one beam energy (the test beam): E_inc leaves the matrix, 11 variables
    ref["E_inc"] = np.full(n, 8e4)
    assert len(correlation_names(ref)) == 11 and "E_inc" not in compare_correlations(ref, gen)["names"]


def pion_like(n, e_gev, seed):
    """Tracks that start showering at an exponential depth, with energy-dependent widths."""
    rng = np.random.default_rng(seed)
    c = cube(n)
    start = np.minimum(rng.exponential(8.0, n).astype(int), 37)
    for s in range(n):
        c[s, :start[s], 12, 12] = 1.4 * MIP
        depth = 37 - start[s]
        if depth:
            k = start[s] + np.arange(depth)
            width = rng.integers(2, 5)
            amp = e_gev * 0.6 * np.exp(-np.arange(depth) / 6.0) * rng.uniform(0.7, 1.3)
            c[s, k, 12 - width:12 + width, 12 - width:12 + width] = (amp[:, None, None] * MIP /
                                                                    (2 * width) ** 2 * 4).astype(np.float32)
    return ShowerData(np.full(n, e_gev * 1e3), c.reshape(n, -1), GEO)


def test_hadronic_summary_and_evaluate_cli(tmp_path):
    ref = ShowerData.concatenate([pion_like(60, 40.0, 1), pion_like(60, 80.0, 2)])
    fr = hadronic_features(ref)
    out = hadronic_summary(fr, fr, mip_mev=MIP)
    assert [e["E_inc_mev"] for e in out["per_energy"]] == [4e4, 8e4]
    e40 = out["per_energy"][0]
    assert e40["all_mu90_ratio"] == 1.0 and e40["start_below_5_mu90_ratio"] == 1.0
    frac = float(np.mean(fr.scalars["start_layer_calice"][:60] == 37))
    assert e40["reference"]["no_start_fraction"] == pytest.approx(frac)
    assert out["correlations"]["max_abs_difference"] == 0.0 and len(out["correlations"]["names"]) == 12
    assert len(out["profiles"]["x"]["reference"]) == 24
    with pytest.raises(InputError, match="start_layer_calice"):
        hadronic_summary(compute_features(ref, 13.4), fr)

    from hepgen.evaluate.evaluation import compare_files

    write_showers(tmp_path / "ref.h5", ref)
    write_showers(tmp_path / "gen.h5", ShowerData.concatenate([pion_like(60, 40.0, 3), pion_like(60, 80.0, 4)]))
    result, rfs, gfs = compare_files(tmp_path / "ref.h5", tmp_path / "gen.h5", tmp_path / "cache", classifier=False,
                                     workers=1, hadronic=True)
    assert result["threshold_mev"] == 13.4 and result["hadronic"]["mip_mev"] == 26.8
    assert "start_layer_calice" in result["histograms"]
    assert result["hadronic"]["correlations"] == result["correlations"]
    assert 0 < result["correlations"]["max_abs_difference"] < 0.5

    from hepgen.report.html import write_index

    page = write_index(result, [], tmp_path / "index.html").read_text()
    assert "40 GeV: μ90 gen/ref (all; start &lt; layer 5)" in page and "pion evaluation" in page
