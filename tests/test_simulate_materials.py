"""Material table and sampling-structure mixture rules."""

import pytest

from hepgen.errors import InputError
from hepgen.geometry import Slab, get_geometry
from hepgen.geometry.materials import MATERIALS, get_material, sampling_structure


def test_pdg_radiation_lengths_and_moliere_radii():
    assert get_material("W").x0_mm == pytest.approx(3.504, abs=0.01)
    assert get_material("Pb").x0_mm == pytest.approx(5.612, abs=0.01)
    assert get_material("CsI").x0_mm == pytest.approx(18.60, abs=0.05)
    assert get_material("PbWO4").x0_mm == pytest.approx(8.90, abs=0.05)
    assert get_material("Si").x0_mm == pytest.approx(93.7, abs=0.2)
    assert get_material("W").moliere_radius_mm == pytest.approx(9.33, abs=0.1)
    assert get_material("CsI").moliere_radius_mm == pytest.approx(35.3, abs=0.5)
    assert get_material("Si").mip_dedx_mev_mm * 0.525 == pytest.approx(0.203, abs=0.003)


def test_every_preset_slab_material_is_known():
    for name in ("calochallenge-2", "ild-ecal", "ild-ahcal", "belle2-ecl-5x5"):
        for layer in get_geometry(name).layer_stack:
            for slab in layer:
                assert get_material(slab.material).name in MATERIALS


def test_mixture_rules_of_a_sampling_cell():
    s = sampling_structure([Slab("W", 1.4), Slab("Si", 0.3, True)])
    w, si = get_material("W"), get_material("Si")
    # 1/X0 adds by thickness fraction; X0_eff between the two, close to W's scaled by the thickness
    expected = 1.7 / (1.4 / w.x0_mm + 0.3 / si.x0_mm)
    assert s.x0_mm == pytest.approx(expected, rel=1e-6)
    assert s.f_s == pytest.approx(s.x0_mm / 1.7)
    assert s.e_hat == pytest.approx(1 / (1 + 0.007 * 60))
    assert 0.03 < s.f_mip < 0.04
    assert w.z > s.z_eff > 60
    assert not s.homogeneous and s.visible_fraction == pytest.approx(s.e_hat * s.f_mip)


def test_homogeneous_block_is_fully_visible():
    s = sampling_structure([Slab("CsI", 300.0, True)])
    assert s.homogeneous and s.visible_fraction == 1.0
    assert s.x0_mm == pytest.approx(get_material("CsI").x0_mm)


def test_unknown_material_is_an_input_error():
    with pytest.raises(InputError, match="unknown material 'Unobtainium'"):
        get_material("Unobtainium")
