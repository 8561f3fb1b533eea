"""Jet recipes: the Pythia settings of the JetNet and hepgen recipes, and a tiny JetNet-recipe top-jet sample whose
mean multiplicity lies near JetNet150's (63.0 particles per top jet, docs/jet_recipe.md)."""

import numpy as np
import pytest

from hepgen.errors import InputError
from hepgen.simulate.jets import RECIPES, JetProduction, pythia_settings


def test_settings_lines_per_recipe():
    jetnet = pythia_settings("t", seed=3, recipe="jetnet")
    hepgen = pythia_settings("t", seed=3, recipe="hepgen")
    assert "PartonLevel:MPI = on" in jetnet and "PartonLevel:MPI = off" in hepgen
    assert {"PhaseSpace:pTHatMin = 990", "PhaseSpace:pTHatMax = 1010"} <= set(jetnet)  # JetNet: 1 TeV +- 1 %
    assert {"PhaseSpace:pTHatMin = 980", "PhaseSpace:pTHatMax = 1020"} <= set(hepgen)
    for line in RECIPES["jetnet"].pythia_lines:
        assert line in jetnet and line not in hepgen
    assert "Top:gg2ttbar = on" in jetnet and "Random:seed = 3" in jetnet
    # explicit options override the recipe's
    assert "PartonLevel:MPI = off" in pythia_settings("t", 3, mpi=False, recipe="jetnet")
    assert "PhaseSpace:pTHatMax = 1050" in pythia_settings("t", 3, pt_window=0.05, recipe="jetnet")


def test_recipe_defaults_and_errors():
    assert JetProduction("t", 10).recipe == "jetnet"
    hepgen, jetnet = RECIPES["hepgen"], RECIPES["jetnet"]
    assert hepgen.charged_pt_min_gev == hepgen.photon_pt_min_gev == hepgen.neutral_hadron_pt_min_gev == 0.0
    assert jetnet.charged_pt_min_gev == jetnet.photon_pt_min_gev == jetnet.neutral_hadron_pt_min_gev == 1.0
    assert hepgen.jet_pt_range is None and jetnet.jet_pt_range == (0.8, 1.6)
    with pytest.raises(InputError, match="unknown jet recipe 'cms'"):
        JetProduction("t", 10, recipe="cms")
    with pytest.raises(InputError, match="unknown jet recipe"):
        pythia_settings("g", 1, recipe="")


def test_jetnet_recipe_top_multiplicity():
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from hepgen.simulate.jets import generate_chunk

    jets = generate_chunk(JetProduction("t", 30, 150, seed=5, chunk_size=30), 0)
    n = jets.n_particles
    # JetNet150 top jets: mean 63.0 (rms 17.5); 30 jets give a statistical error of about 3.2
    assert 63.0 * 0.8 < n.mean() < 63.0 * 1.2, n.mean()
    pt = jets.jets[:, 0]
    assert np.all((pt >= 800) & (pt <= 1600))  # JetNet's jet pT window
    p = jets.particles
    particle_pt = p[..., 2] * pt[:, None]
    assert particle_pt[p[..., 3] > 0].min() >= 0.999  # stored particles: pT >= 1 GeV
    assert 0.9 < np.median(p[..., 2].sum(1)) < 1.0  # the jet axis and pT include the dropped soft particles
    assert 140 < np.median(jets.jets[:, 2]) < 200  # mass of the stored particles: near the top mass


def test_cli_hepgen_recipe(tmp_path):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from hepgen.cli import main
    from hepgen.data import read_jets

    out = tmp_path / "w.npz"
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "simulate", "jets", "--type", "w", "-n", "4", "-o", str(out), "--hepgen-recipe",
              "--max-particles", "150", "--chunk-size", "4"])
    assert e.value.code in (0, None)
    jets = read_jets(out)
    assert len(jets) == 4 and jets.particles.shape == (4, 150, 4)
