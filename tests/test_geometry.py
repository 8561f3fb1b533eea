import numpy as np
import pytest

from hepgen.errors import InputError
from hepgen.geometry import CartesianGeometry, geometry_for_voxels, geometry_from_spec, get_geometry, preset_names


@pytest.mark.parametrize("name,n", [("calochallenge-1-photons", 368), ("calochallenge-1-pions", 533),
                                    ("calochallenge-2", 6480), ("calochallenge-3", 40500), ("ild-ecal", 27000),
                                    ("ild-ahcal", 30000), ("belle2-ecl-5x5", 25), ("belle2-ecl-10x10", 100),
                                    ("belle2-ecl-30x30", 900)])
def test_voxel_counts(name, n):
    g = get_geometry(name)
    assert g.n_voxels == n
    assert len(g.voxel_indices()) == n
    assert g.layer_edges[-1] == n
    for coord in g.voxel_positions().values():
        assert coord.shape == (n,)


def test_calochallenge_voxel_order_is_layer_alpha_radius_with_radius_fastest():
    g = get_geometry("calochallenge-2")
    idx = g.voxel_indices()
    assert idx[:3].tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 2]]
    assert idx[9].tolist() == [0, 1, 0]
    assert idx[144].tolist() == [1, 0, 0]
    pos = g.voxel_positions()
    # radial bin 0 of layer 0 is 0-4.65 mm; alpha bin 0 centre is -pi + pi/16
    assert pos["r"][0] == pytest.approx(2.325)
    assert pos["alpha"][0] == pytest.approx(-np.pi + np.pi / 16)
    assert pos["eta"][0] == pytest.approx(2.325 * np.cos(-np.pi + np.pi / 16))
    assert pos["phi"][9] == pytest.approx(2.325 * np.sin(-np.pi + 3 * np.pi / 16))
    # physical structure: 2 x (1.4 mm W + 0.3 mm Si) per readout layer
    assert g.layer_depths_mm()[-1] == pytest.approx(90 * 1.7)


def test_dataset1_layers_without_voxels_keep_their_ids():
    g = get_geometry("calochallenge-1-photons")
    assert g.relevant_layers == [0, 1, 2, 3, 12]
    assert g.layers_binned_in_alpha == [1, 2]
    assert g.shape is None
    assert np.diff(g.layer_edges)[[0, 1, 2, 3, 12]].tolist() == [8, 160, 190, 5, 5]


def test_flatten_indices_inverts_voxel_indices():
    for name in ("calochallenge-1-pions", "ild-ecal"):
        g = get_geometry(name)
        idx = g.voxel_indices()
        assert np.array_equal(g.flatten_indices(idx), np.arange(g.n_voxels))


def test_ild_ecal_structure():
    g = get_geometry("ild-ecal")
    assert sum(s.thickness_mm for l in g.layer_stack for s in l if s.material == "W") == pytest.approx(20 * 2.1 + 10 * 4.2)
    assert all(s.active for l in g.layer_stack for s in l if s.material == "Si")
    x = g.voxel_positions()["x"]
    assert x.min() == pytest.approx(-72.5) and x.max() == pytest.approx(72.5)


def test_user_yaml_geometry_round_trips_through_spec(tmp_path):
    path = tmp_path / "mycalo.yaml"
    path.write_text("type: cartesian\nname: mycalo\nnx: 4\nny: 3\nnz: 2\ncell_size_mm: [5, 5]\n"
                    "layers:\n  - repeat: 2\n    slabs: [{material: Pb, thickness_mm: 5.6}, "
                    "{material: Scintillator, thickness_mm: 4, active: true}]\n")
    g = get_geometry(path)
    assert (g.n_voxels, g.shape) == (24, (2, 3, 4))
    assert g.layer_stack[1][0].material == "Pb"
    assert geometry_from_spec(g.spec()) == g


def test_user_xml_geometry(tmp_path):
    path = tmp_path / "tiny.xml"
    path.write_text('<Bins><Bin pid="11" name="electron">'
                    '<Layer id="0" r_edges="0,1,2" n_bin_alpha="3"/><Layer id="1" r_edges="0,2" n_bin_alpha="1"/>'
                    "</Bin></Bins>")
    g = get_geometry(path)
    assert g.n_voxels == 7 and g.particle == "electron"


def test_unknown_geometry_and_bad_files(tmp_path):
    with pytest.raises(InputError, match="unknown geometry 'atlas'"):
        get_geometry("atlas")
    with pytest.raises(InputError, match="geometry file not found"):
        get_geometry(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("type: cartesian\nname: x\nnx: 3\n")
    with pytest.raises(InputError, match="missing key 'ny'"):
        get_geometry(bad)
    with pytest.raises(InputError, match="expected nx, ny, nz >= 1"):
        CartesianGeometry("x", 0, 1, 1, (1, 1))


def test_geometry_recognised_by_voxel_count():
    assert geometry_for_voxels(40500).name == "calochallenge-3"
    assert geometry_for_voxels(12345) is None
    assert set(preset_names()) >= {"calochallenge-2", "ild-ecal", "belle2-ecl-5x5"}


@pytest.mark.parametrize("name,readout,evaluation,calibrated", [
    ("calochallenge-1-photons", 0.0, 1.0, False), ("calochallenge-1-pions", 0.0, 1.0, False),
    ("calochallenge-2", 0.01515, 0.5e-3 / 0.033, True), ("calochallenge-3", 0.01515, 0.5e-3 / 0.033, True),
    ("ild-ecal", 0.0, 0.1, False), ("ild-ahcal", 0.0, 0.25, False), ("belle2-ecl-5x5", 0.0, 1.0, False),
    ("belle2-ecl-10x10", 0.0, 1.0, False), ("belle2-ecl-30x30", 0.0, 10.0, False)])
def test_preset_readout_conventions(name, readout, evaluation, calibrated):
    g = get_geometry(name)
    assert (g.readout_threshold_mev, g.evaluation_threshold_mev, g.calibrated_energies) == (readout, evaluation,
                                                                                            calibrated)
    assert geometry_from_spec(g.spec()) == g
    assert g.calochallenge_dataset == (int(name.split("-")[1]) if name.startswith("calochallenge") else None)


def test_readout_conventions_from_yaml_and_their_defaults(tmp_path):
    base = ("type: cartesian\nname: my-ecal\nnx: 4\nny: 4\nnz: 2\ncell_size_mm: [5, 5]\n")
    (tmp_path / "a.yaml").write_text(base)
    plain = get_geometry(tmp_path / "a.yaml")
    assert (plain.readout_threshold_mev, plain.evaluation_threshold_mev, plain.calibrated_energies) == (0.0, None, False)
    assert "evaluation_threshold_mev" not in plain.spec()          # files of user geometries keep their spec
    (tmp_path / "b.yaml").write_text(base + "readout_threshold_mev: 0.2\nevaluation_threshold_mev: 0.5\n"
                                     "calibrated_energies: true\n")
    g = get_geometry(tmp_path / "b.yaml")
    assert (g.readout_threshold_mev, g.evaluation_threshold_mev, g.calibrated_energies) == (0.2, 0.5, True)
    assert geometry_from_spec(g.spec()) == g and g != plain
    (tmp_path / "c.yaml").write_text(base + "evaluation_threshold_mev: -1\n")
    with pytest.raises(InputError, match="evaluation_threshold_mev"):
        get_geometry(tmp_path / "c.yaml")
    # a spec naming a preset without conventions (an older file) takes the preset's
    spec = get_geometry("ild-ecal").spec()
    del spec["evaluation_threshold_mev"]
    assert geometry_from_spec(spec).evaluation_threshold_mev == 0.1


def test_binning_properties_replace_subclass_checks():
    cart, cyl = get_geometry("ild-ahcal"), get_geometry("calochallenge-2")
    assert cart.grid_shape == (25, 25) and cart.cell_size_mm == (30.0, 30.0) and cart.r_edges is None
    assert cart.cell_edges_mm()[0][0] == -375.0
    assert cyl.grid_shape is None and cyl.cell_size_mm is None and cyl.cell_edges_mm() is None
    assert len(cyl.r_edges) == 45


def test_user_geometry_without_evaluation_threshold_warns_once(capsys):
    from hepgen.evaluate.features import default_threshold_mev

    g = CartesianGeometry("no-threshold-stated", 2, 2, 1, (1.0, 1.0))
    assert default_threshold_mev(g) == 0.0 and default_threshold_mev(g) == 0.0
    assert capsys.readouterr().err.count("states no evaluation_threshold_mev") == 1
    assert default_threshold_mev(CartesianGeometry("t", 2, 2, 1, (1.0, 1.0), evaluation_threshold_mev=2.0)) == 2.0
