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
