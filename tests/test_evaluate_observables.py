"""Shower observables on hand-made showers with known answers."""

import numpy as np
import pytest

from hepgen.evaluate.observables import correlation_matrix, mu90, shower_observables, shower_profiles
from hepgen.errors import InputError
from hepgen.geometry import CartesianGeometry, get_geometry


def test_single_hit_has_its_position_and_no_width():
    g = get_geometry("ild-ecal")
    e = np.zeros((1, g.n_voxels))
    flat = g.flatten_indices(np.array([[7, 3, 20]]))[0]
    e[0, flat] = 5.0
    o = shower_observables(e, np.array([1e4]), g, threshold_mev=0.1)
    pos = g.voxel_positions()
    assert o["E_vis"][0] == 5.0 and o["n_hits"][0] == 1 and o["E_max"][0] == 5.0
    assert o["m1_x"][0] == pytest.approx(pos["x"][flat]) and o["m1_y"][0] == pytest.approx(pos["y"][flat])
    assert o["m1_z"][0] == pytest.approx(pos["z"][flat])
    assert o["m2_x"][0] == 0 and o["m2_y"][0] == 0 and o["m2_z"][0] == 0
    assert o["E1_frac"][0] == 1.0 and o["E2_frac"][0] == 0.0
    assert o["E_vis/E_inc"][0] == pytest.approx(5e-4)


def test_uniform_layer_moments_profiles_and_start():
    g = CartesianGeometry("toy", 4, 4, 6, (10.0, 10.0))
    e = np.zeros((2, g.n_voxels))
    e[:, g.layer_slice(3)] = 1.0
    e[:, g.layer_slice(4)] = 1.0
    o = shower_observables(e, np.full(2, 100.0), g)
    # x centres -15, -5, 5, 15 mm -> rms 11.18 mm
    assert o["m1_x"][0] == pytest.approx(0.0) and o["m2_x"][0] == pytest.approx(np.sqrt(125.0))
    assert o["m1_z"][0] == pytest.approx(3.5) and o["m2_z"][0] == pytest.approx(0.5)
    assert o["start_layer"][0] == 3
    assert o["E2_frac"][0] == pytest.approx(0.5) and o["E3_frac"][0] == pytest.approx(0.5)
    p = shower_profiles(e, g)
    assert p["longitudinal"][0].tolist() == [0, 0, 0, 16, 16, 0]
    assert p["x"][0].tolist() == [8, 8, 8, 8] and p["radial"][0].sum() == 32


def test_threshold_removes_cells_and_counts_two_thresholds():
    g = get_geometry("belle2-ecl-5x5")
    e = np.zeros((1, 25))
    e[0, :3] = [0.5, 2.0, 20.0]
    o = shower_observables(e, np.array([1e3]), g, threshold_mev=1.0, high_threshold_mev=10.0)
    assert o["E_vis"][0] == 22.0 and o["n_hits"][0] == 2 and o["n_hits_high"][0] == 1


@pytest.mark.parametrize("name,ratio,expected", [
    ("belle2-ecl-5x5", "E1/E9", 1 / 9), ("belle2-ecl-5x5", "E9/E21", 9 / 21), ("belle2-ecl-5x5", "E9/E25", 9 / 25),
    ("belle2-ecl-10x10", "E16/E100", 0.16), ("belle2-ecl-30x30", "E196/E900", 196 / 900)])
def test_crystal_ratios_of_a_uniform_array(name, ratio, expected):
    g = get_geometry(name)
    o = shower_observables(np.ones((1, g.n_voxels)), np.array([1e4]), g)
    assert o[ratio][0] == pytest.approx(expected)
    assert o["E_peak"][0] == 1.0


def test_mu90_of_a_uniform_distribution():
    v = np.linspace(0.0, 100.0, 100_001)
    r = mu90(v)
    assert r["mu90"] == pytest.approx(50.0, abs=1e-6)
    assert r["sigma90"] == pytest.approx(90.0 / np.sqrt(12.0), rel=1e-3)


def test_correlation_matrix_known_values_and_constant_columns():
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    obs = {"a": x, "b": -2 * x + 1, "c": np.ones(5000)}
    c = correlation_matrix(obs, ("a", "b", "c"))
    assert c[0, 1] == pytest.approx(-1.0) and c[0, 2] == 0.0 and c[2, 2] == 1.0


def test_cell_and_pooled_pixel_thresholds_are_two_explicit_definitions_of_e_vis():
    """Cell level: each cell below the threshold is dropped; pool=k: cells are summed over depth and pooled first,
    and the threshold acts on the pixels (Bieringer et al. 2022), so small cells can add up above it."""
    g = get_geometry("belle2-ecl-10x10")
    e = np.zeros((1, g.n_voxels))
    e[0, [0, 1, 10, 11]] = 0.4                       # four cells in one 2 x 2 pixel, each below 1 MeV
    cells = shower_observables(e, np.array([1e3]), g, threshold_mev=1.0, names=["E_vis", "n_hits"])
    pixels = shower_observables(e, np.array([1e3]), g, threshold_mev=1.0, pool=2, names=["E_vis", "n_active"])
    assert list(cells) == ["E_vis", "n_hits"] and cells["E_vis"][0] == 0.0
    assert pixels["E_vis"][0] == pytest.approx(1.6) and pixels["n_active"][0] == 1
    with pytest.raises(InputError, match="unknown observable"):
        shower_observables(e, np.array([1e3]), g, names=["CG_x"])
