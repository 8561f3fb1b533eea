"""GFlash simulator: physics of the parameterisation, geometry deposition, reproducibility, CLI."""

import numpy as np
import pytest

from hepgen.data import read_showers
from hepgen.errors import InputError
from hepgen.geometry import geometry_from_spec
from hepgen.geometry.materials import get_material
from hepgen.simulate import BLOCK, simulate_showers, simulate_to_file
from hepgen.simulate import gflash
from hepgen.simulate.parameterisation import longitudinal_parameters, sample_profiles


def _homogeneous(mat: str, n_layers: int = 120, step_x0: float = 0.25, r_edges=None):
    """Homogeneous block read out in slices of ``step_x0`` radiation lengths (one radial bin unless given)."""
    x0 = get_material(mat).x0_mm
    return geometry_from_spec({
        "type": "cylindrical", "name": f"test-homo-{mat}-{n_layers}", "n_alpha": 1,
        "r_edges": [list(r_edges or [0.0, 1e5])] * n_layers,
        "layers": [{"repeat": n_layers, "slabs": [{"material": mat, "thickness_mm": step_x0 * x0, "active": True}]}]})


def _t_max(geo, energy, particle, n, step_x0=0.25):
    prof = simulate_showers(geo, np.full(n, energy), particle, seed=11).layer_energy().mean(axis=0)
    i = int(np.argmax(prof))
    y0, y1, y2 = prof[i - 1:i + 2]
    return (i + 0.5 + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)) * step_x0


@pytest.mark.parametrize("mat", ["W", "CsI"])
def test_longitudinal_maximum_follows_pdg(mat):
    geo = _homogeneous(mat)
    ec = get_material(mat).critical_energy_mev
    for energy, n in ((1e3, 400), (1e4, 300), (1e5, 200), (1e6, 100)):
        ln_y = np.log(energy / ec)
        # PDG: C_e = -0.5, C_gamma = +0.5 within 0.3 X0
        assert _t_max(geo, energy, "electron", n) == pytest.approx(ln_y - 0.5, abs=0.3), (mat, energy)
        assert _t_max(geo, energy, "photon", n) == pytest.approx(ln_y + 0.5, abs=0.3), (mat, energy)


def test_electron_profile_is_the_papers_behind_its_start(monkeypatch):
    """With the start depth at 0 the electron maximum is the paper's mean-profile fit T = ln y - 0.858."""
    import hepgen.simulate.gflash as gflash

    geo, ec = _homogeneous("W"), get_material("W").critical_energy_mev
    shifted, start = _t_max(geo, 1e4, "electron", 300), gflash.ELECTRON_START_X0
    monkeypatch.setattr(gflash, "ELECTRON_START_X0", 0.0)
    paper = _t_max(geo, 1e4, "electron", 300)
    assert paper == pytest.approx(np.log(1e4 / ec) - 0.858, abs=0.15)
    assert shifted - paper == pytest.approx(start, abs=0.05)


def test_radial_containment_in_moliere_radii():
    rm = get_material("W").moliere_radius_mm
    geo = _homogeneous("W", n_layers=10, step_x0=4.0, r_edges=[0, rm, 2 * rm, 200 * rm])
    s = simulate_showers(geo, np.full(200, 5e4), "electron", seed=5)
    per_r = s.energy.reshape(len(s), 10, 3).sum(axis=(0, 1))
    contained = np.cumsum(per_r) / per_r.sum()
    assert contained[0] == pytest.approx(0.90, abs=0.03)
    assert contained[1] == pytest.approx(0.95, abs=0.03)


def test_profile_fluctuations_match_the_parameterisation():
    ln_y = np.full(40_000, np.log(5e4 / 8.0))
    par = longitudinal_parameters(ln_y, 74.0, f_s=2.5, e_hat=0.7)
    draw = sample_profiles(par, np.random.default_rng(0))
    lt, la = np.log(draw["t"]), np.log(draw["alpha"])
    assert lt.mean() == pytest.approx(par["mean_ln_t"][0], abs=0.005)
    assert la.mean() == pytest.approx(par["mean_ln_alpha"][0], abs=0.005)
    assert lt.std() == pytest.approx(par["sigma_ln_t"][0], rel=0.02)
    assert la.std() == pytest.approx(par["sigma_ln_alpha"][0], rel=0.02)
    assert np.corrcoef(lt, la)[0, 1] == pytest.approx(0.784 - 0.023 * ln_y[0], abs=0.01)
    # paper's homogeneous widths: 1/(-1.4 + 1.26 ln y) and 1/(-0.58 + 0.86 ln y)
    assert par["sigma_ln_t_hom"][0] == pytest.approx(1 / (-1.4 + 1.26 * ln_y[0]))
    assert par["sigma_ln_alpha_hom"][0] == pytest.approx(1 / (-0.58 + 0.86 * ln_y[0]))


def test_ild_linearity_and_stochastic_scaling():
    weights = np.where(np.arange(30) < 20, 1.0, 2.0)  # the ECAL's two absorber thicknesses, as CALICE calibrates
    resp, res = [], []
    for energy in (1e4, 4e4, 1e5):
        s = simulate_showers("ild-ecal", np.full(600, energy), "photon", seed=1)
        e_cal = s.layer_energy() @ weights
        resp.append(e_cal.mean() / energy)
        res.append(e_cal.std() / e_cal.mean())
    assert max(resp) / min(resp) - 1 < 0.01
    # sampling dominated: sigma/E falls roughly as 1/sqrt(E) between 10 and 40 GeV
    assert res[0] / res[1] == pytest.approx(2.0, rel=0.25)
    # sigma/E = a/sqrt(E) (+) c: the stochastic term within the 14-19 %/sqrt(GeV) (CALICE: 16.6 %)
    e_gev = np.array([10.0, 40.0, 100.0])
    (a2, c2), *_ = np.linalg.lstsq(np.stack([1 / e_gev, np.ones(3)], axis=1), np.square(res), rcond=None)
    assert 0.14 < np.sqrt(a2) < 0.19
    assert 0.02 < resp[0] < 0.04  # e_hat * f_mip of the first section with the 1:2 weighting


def test_ild_mip_peak_and_aim_between_cells():
    s = simulate_showers("ild-ecal", np.full(64, 2e4), "photon", seed=4)
    cells = s.energy[s.energy > 0]
    hist, edges = np.histogram(cells, bins=np.geomspace(0.02, 2.0, 41))
    first = int(np.flatnonzero((hist[1:-1] > hist[:-2]) & (hist[1:-1] >= hist[2:]))[0]) + 1
    assert 0.1 < edges[first] < 0.3  # the MIP peak: 1 MIP in 0.525 mm Si is about 0.15-0.2 MeV
    assert hist[first + 1:first + 6].min() < 0.9 * hist[first]  # a real peak, followed by a dip
    centre = s.view()[:, 5:15, 14:16, 14:16].sum(axis=(0, 1)).ravel()
    assert centre.min() / centre.max() > 0.85  # x = y = 0 is the corner of four cells


def test_calochallenge_threshold_and_response():
    """ds2/3 files hold the challenge's calibrated energies (E_tot/E_inc near 1, its evaluate.py histograms span
    0.5-1.5) with its 15.15 keV cut; --visible-energy gives the silicon energies with the same physical cut."""
    e_inc = np.array([1e4] * 8 + [1e5] * 8)
    s = simulate_showers("calochallenge-2", e_inc, "electron", seed=2)
    e = s.energy
    assert not np.any((e > 0) & (e < 0.01515)) and np.any(e < 0.02)
    ratio = s.visible_energy / s.incident_energy
    assert 0.9 < ratio.mean() < 1.02 and np.all((ratio > 0.5) & (ratio < 1.5))
    v = simulate_showers("calochallenge-2", e_inc, "electron", seed=2, visible_energy=True)
    assert 0.02 < (v.visible_energy / v.incident_energy).mean() < 0.03
    f = gflash.detector_model("calochallenge-2").sampling_fraction
    np.testing.assert_array_equal(v.energy > 0, s.energy > 0)          # the same cut in both conventions
    np.testing.assert_allclose(v.energy / f, s.energy, rtol=1e-5)


def test_calochallenge_file_states_its_energy_convention(tmp_path):
    import h5py


    simulate_to_file(tmp_path / "c.h5", "calochallenge-2", "10GeV", 32, particle="electron", seed=1, quiet=True)
    simulate_to_file(tmp_path / "v.h5", "calochallenge-2", "10GeV", 32, particle="electron", seed=1, quiet=True,
                     visible_energy=True)
    with h5py.File(tmp_path / "c.h5") as c, h5py.File(tmp_path / "v.h5") as v:
        assert c.attrs["energy_convention"] == "calibrated" and v.attrs["energy_convention"] == "visible"
        f = float(c.attrs["sampling_fraction"])
        assert 0.02 < f < 0.03
        np.testing.assert_allclose(v["showers"][:] / f, c["showers"][:], rtol=1e-5)


def test_cylinder_fast_path_equals_spot_sampling():
    energies = np.full(64, 5e4)
    fast = simulate_showers("calochallenge-2", energies, "electron", seed=9)
    spots = simulate_showers("calochallenge-2", energies, "electron", seed=9, incidence_angle=1e-9)
    r_fast = fast.view().sum(axis=(0, 1, 2))
    r_spot = spots.view().sum(axis=(0, 1, 2))
    np.testing.assert_allclose(r_fast / r_fast.sum(), r_spot / r_spot.sum(), atol=0.01)
    assert fast.visible_energy.mean() == pytest.approx(spots.visible_energy.mean(), rel=0.02)


def test_incidence_angle_moves_the_shower():
    s = simulate_showers("ild-ecal", np.full(32, 2e4), "electron", seed=3, incidence_angle=np.radians(20))
    le = s.view().sum(axis=0)                              # (z, y, x)
    x = (np.arange(30) - 14.5) * 5.0
    cx = (le.sum(axis=1) * x).sum(axis=1) / le.sum(axis=(1, 2))
    depth = 0.5 * np.add(*(lambda d: (d[1:], d[:-1]))(s.geometry.layer_depths_mm()))
    slope = np.polyfit(depth[3:20], cx[3:20], 1)[0]
    assert slope == pytest.approx(np.tan(np.radians(20)), abs=0.08)


def test_same_seed_same_showers_any_chunking(tmp_path):
    energies = np.geomspace(1e3, 1e5, 70)
    a = simulate_showers("ild-ecal", energies, "electron", seed=21)
    b = simulate_showers("ild-ecal", energies, "electron", seed=21, chunk_size=7)
    c = simulate_showers("ild-ecal", energies, "electron", seed=22)
    assert np.array_equal(a.energy, b.energy)
    assert not np.array_equal(a.energy, c.energy)
    tail = simulate_showers("ild-ecal", energies[BLOCK:], "electron", seed=21, first_shower=BLOCK)
    assert np.array_equal(tail.energy, a.energy[BLOCK:])


def test_file_is_identical_across_chunks_and_resumes(tmp_path, monkeypatch):
    one = tmp_path / "one.h5"
    simulate_to_file(one, "belle2-ecl-10x10", "log-uniform:1GeV:50GeV", 100, "photon", seed=5, chunk_size=1000,
                     quiet=True)
    # interrupted after two chunks, then resumed with another chunk size
    calls = {"n": 0}
    real = gflash.simulate_block

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    import hepgen.simulate.stream as stream
    monkeypatch.setattr(stream, "simulate_block", flaky)
    two = tmp_path / "two.h5"
    with pytest.raises(KeyboardInterrupt):
        simulate_to_file(two, "belle2-ecl-10x10", "log-uniform:1GeV:50GeV", 100, "photon", seed=5, chunk_size=32,
                         quiet=True)
    assert not two.exists() and (tmp_path / "two.partial.h5").exists()
    monkeypatch.setattr(stream, "simulate_block", real)
    assert simulate_to_file(two, "belle2-ecl-10x10", "log-uniform:1GeV:50GeV", 100, "photon", seed=5,
                            chunk_size=64, quiet=True) == 100
    a, b = read_showers(one), read_showers(two)
    assert np.array_equal(a.energy, b.energy) and np.array_equal(a.incident_energy, b.incident_energy)
    # the API gives the same showers for the file's energies
    api = simulate_showers("belle2-ecl-10x10", a.incident_energy, "photon", seed=5)
    assert np.allclose(api.energy, a.energy)
    with pytest.raises(InputError, match="other settings"):
        part = tmp_path / "three.h5"
        monkeypatch.setattr(stream, "simulate_block", flaky)
        calls["n"] = 0
        with pytest.raises(KeyboardInterrupt):
            simulate_to_file(part, "belle2-ecl-10x10", "50GeV", 100, "photon", seed=5, chunk_size=32, quiet=True)
        simulate_to_file(part, "belle2-ecl-10x10", "50GeV", 100, "photon", seed=6, chunk_size=32, quiet=True)


def test_bad_input_is_reported():
    with pytest.raises(InputError, match="no physical layer stack"):
        simulate_showers("calochallenge-1-photons", np.array([1e4]))
    with pytest.raises(InputError, match="particle 'kaon'"):
        simulate_showers("ild-ecal", np.array([1e4]), "kaon")
    with pytest.raises(InputError, match="index 1"):
        simulate_showers("ild-ecal", np.array([1e4, -5.0]))


def test_cli_simulate_writes_ild_layout_and_refuses_overwrite(tmp_path):
    from typer.testing import CliRunner

    from hepgen.cli import app

    out = tmp_path / "ild.h5"
    args = ["-q", "simulate", "--detector", "ild-ecal", "--energy", "discrete:10GeV,20GeV", "-n", "5", "-o", str(out),
            "--seed", "1", "--layout", "ild"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    s = read_showers(out)
    assert len(s) == 5 and set(np.unique(s.incident_energy)) <= {1e4, 2e4}
    with pytest.raises(InputError, match="exists"):
        CliRunner().invoke(app, args, catch_exceptions=False)
