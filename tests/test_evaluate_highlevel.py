"""CaloChallenge high-level features against a direct per-layer implementation of the challenge's definitions."""

import numpy as np
import pytest

from hepgen.errors import InputError
from hepgen.evaluate.highlevel import classifier_highlevel_inputs, highlevel_features, highlevel_names
from hepgen.geometry import get_geometry


def _direct(e, g):
    """Loop over layers with the challenge's formulas, built from the geometry's radial edges and alpha bins."""
    out = {"E_tot": e.sum(axis=1)}
    start = 0
    for l, (edges, na) in enumerate(zip(g.r_edges, g.n_alpha)):
        nr = len(edges) - 1
        if nr <= 0:
            continue
        r = np.tile(0.5 * (edges[1:] + edges[:-1]), na)
        a = np.repeat(0.5 * (np.linspace(-np.pi, np.pi, na + 1)[1:] + np.linspace(-np.pi, np.pi, na + 1)[:-1]), nr)
        x = e[:, start:start + na * nr]
        start += na * nr
        tot = x.sum(axis=1)
        out[f"E_layer_{l}"] = tot
        out[f"sparsity_{l}"] = 1 - (x > 0).mean(axis=1)
        ec = (x * r).sum(1) / (tot + 1e-16)
        out[f"EC_r_{l}"] = ec
        out[f"width_r_{l}"] = np.sqrt(np.clip((x * r * r).sum(1) / (tot + 1e-16) - ec ** 2, 0, None))
        if na > 1:
            for name, c in (("eta", r * np.cos(a)), ("phi", r * np.sin(a))):
                m = (x * c).sum(1) / (tot + 1e-16)
                out[f"EC_{name}_{l}"] = m
                out[f"width_{name}_{l}"] = np.sqrt(np.clip((x * c * c).sum(1) / (tot + 1e-16) - m ** 2, 0, None))
    return out


@pytest.mark.parametrize("name", ["calochallenge-1-photons", "calochallenge-1-pions", "calochallenge-2"])
def test_features_equal_the_challenge_definitions(name):
    g = get_geometry(name)
    rng = np.random.default_rng(1)
    e = rng.exponential(1.0, (50, g.n_voxels)) * (rng.random((50, g.n_voxels)) < 0.3)
    e[0] = 0.0                                          # an empty shower: every mean is 0, as in the challenge
    ours, ref = highlevel_features(e, g), _direct(e, g)
    assert sorted(ours) == sorted(highlevel_names(g)) == sorted(ref)
    for k in ref:
        np.testing.assert_allclose(ours[k], ref[k], rtol=1e-10, atol=1e-5, err_msg=k)  # sqrt of a round-off variance
    assert ours["EC_eta_1"][0] == 0.0 and ours["sparsity_1"][0] == 1.0


def test_classifier_inputs_layout_and_cartesian_refused():
    g = get_geometry("calochallenge-2")
    f = highlevel_features(np.ones((3, g.n_voxels)), g)
    x = classifier_highlevel_inputs(f, np.full(3, 1e4), g)
    assert x.shape == (3, 1 + 45 + 4 * 45 + 1 + 3 * 45)
    assert x[0, 0] == pytest.approx(4.0) and x[0, 1] == pytest.approx(np.log10(144 + 1e-8))
    with pytest.raises(InputError, match="cylindrical"):
        highlevel_features(np.ones((1, 25)), get_geometry("belle2-ecl-5x5"))
