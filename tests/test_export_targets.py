"""``hepgen export --target``: graphs in the Geant4 Par04 and key4hep DDML contracts pass the conformance harness
(called as the C++ calls them), write a model card, and runs that cannot meet a target are refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import random_showers, tiny_config
from hepgen.progress import set_quiet
from hepgen.training import train
from hepgen.training.conformance import (ORDER_TOLERANCE, check_conformance, framework_inputs, framework_session,
                                         run_framework, unpack_cells, unpack_hits)
from hepgen.training.targets import TARGETS, card_path_of, convert_voxels, export_target, get_target


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    set_quiet(True)
    folder = tmp_path_factory.mktemp("runs")
    points = {**tiny_config("mdma-calo-gan"), "preprocessing": [{"name": "hits", "nhits_model": "poly"}]}
    return {
        "ds2": train("wgan", random_showers("calochallenge-2", 32, seed=3), folder / "ds2", tiny_config("wgan"),
                     max_epochs=1, seed=1),
        "ds3": train("wgan", random_showers("calochallenge-3", 16, seed=4, occupancy=0.05), folder / "ds3",
                     tiny_config("wgan"), max_epochs=1, seed=1),
        "ild": train("mdma-calo-gan", random_showers("ild-ecal", 24, seed=5, occupancy=0.003), folder / "ild", points,
                     max_epochs=1, seed=1),
    }


CASES = [("ds2", "par04-calodit"), ("ds2", "ddml-calodit"), ("ds3", "par04"), ("ds3", "ddml-calodit"),
         ("ild", "ddml-caloclouds")]


@pytest.mark.parametrize("run,target", CASES)
def test_exported_target_passes_the_conformance_harness(runs, tmp_path, run, target):
    out = tmp_path / f"{target}.onnx"
    card = export_target(runs[run], out, target)
    report = check_conformance(runs[run], out, target, n_showers=6)
    assert report.passed, report.summary()
    assert report.order_deviation <= ORDER_TOLERANCE and report.energy_fraction_framework > 0
    # the file has exactly the framework's inputs (count, widths), batch 1 as the C++ builds it
    t = get_target(target)
    sess = framework_session(out)
    assert [i.name for i in sess.get_inputs()] == [i.name for i in t.inputs]
    assert [i["shape"][1] for i in card["inputs"]] == [i.shape[1] for i in sess.get_inputs()]
    saved = json.loads(card_path_of(out).read_text())
    assert saved["target"] == target and saved["geometry"]["run"] and saved["framework_settings"]
    latent = np.zeros(card["inputs"][0]["shape"][1] - 4) if t.noise == "latent-input" else None
    n_out = sess.run(None, dict(zip([i.name for i in t.inputs], framework_inputs(t, 1e4, 1.5, 0.0, latent))))[0].size
    assert n_out == (t.mesh.n_cells if t.mesh is not None else t.hits.size)


def test_par04_vae_latent_is_the_models_noise_and_output_is_a_fraction(runs, tmp_path):
    out = tmp_path / "p.onnx"
    card = export_target(runs["ds3"], out, "par04")
    t = get_target("par04")
    latent = card["inputs"][0]["shape"][1] - 4
    assert "setSizeLatentVector %d" % latent in " ".join(card["framework_settings"])
    sess = framework_session(out)
    z = np.random.default_rng(0).standard_normal(latent)
    a = run_framework(sess, t, framework_inputs(t, 2e4, np.pi / 2, 0.0, z))
    b = run_framework(sess, t, framework_inputs(t, 2e4, np.pi / 2, 0.0, z))
    c = run_framework(sess, t, framework_inputs(t, 2e4, np.pi / 2, 0.0, -z))
    assert np.array_equal(a, b) and not np.allclose(a, c)   # the noise is the framework's latent, nothing inside
    assert a.shape == (18 * 50 * 45,) and np.all(a >= 0) and a.sum() < 10   # fractions of E, not MeV
    assert np.isclose(unpack_cells(t, a, 2e4).sum(), a.sum() * 2e4)


def test_calodit_draws_inside_the_graph_and_ignores_the_onehot(runs, tmp_path):
    out = tmp_path / "d.onnx"
    export_target(runs["ds2"], out, "ddml-calodit")
    t = get_target("ddml-calodit")
    sess = framework_session(out)
    a, b = (run_framework(sess, t, framework_inputs(t, 1e4, 1.5, 0.2)) for _ in range(2))
    assert not np.allclose(a, b)   # RandomNormalLike inside: every call a new shower
    assert len(sess.get_inputs()) == 1 and sess.get_inputs()[0].shape[1] == 8


def test_ddml_phi_cells_are_the_par04_cells_turned_by_pi():
    from hepgen.geometry import get_geometry

    g = get_geometry("calochallenge-2")
    e = np.random.default_rng(0).random((2, g.n_voxels))
    par04 = convert_voxels(e, g, TARGETS["par04-calodit"]).reshape(2, 9, 16, 45)
    ddml = convert_voxels(e, g, TARGETS["ddml-calodit"]).reshape(2, 9, 16, 45)
    assert np.allclose(np.roll(par04, 8, axis=2), ddml, rtol=1e-12, atol=0)
    # hepgen (layer, alpha, radius) -> (rho, phi, z): a pure transpose on the same mesh
    assert np.allclose(par04, e.reshape(2, 45, 16, 9).transpose(0, 3, 2, 1), rtol=1e-12, atol=0)
    assert np.isclose(par04.sum(), e.sum())


def test_caloclouds_hits_unpack_to_layers_and_counts(runs, tmp_path):
    out = tmp_path / "c.onnx"
    export_target(runs["ild"], out, "ddml-caloclouds")
    t = get_target("ddml-caloclouds")
    sess = framework_session(out)
    assert [i.shape for i in sess.get_inputs()] == [["n", 1]] * 3
    flat = run_framework(sess, t, framework_inputs(t, 2e4, np.pi / 2, 0.0))
    hits = unpack_hits(t, flat)
    counts = np.bincount(hits[:, 2].astype(int), minlength=30)
    assert np.array_equal(counts, flat[:30]) and len(hits) > 0 and np.all(hits[:, 3] >= 0)
    assert np.all(np.abs(hits[:, :2]) <= 75.0)   # inside the 30 x 5 mm grid


@pytest.mark.parametrize("run,target,needs", [("ds2", "par04", "calochallenge-3"),
                                              ("ild", "par04", "voxel-shower"),
                                              ("ds2", "ddml-caloclouds", "hit-cloud"),
                                              ("ds3", "nonsense", "expected one of")])
def test_a_run_that_cannot_meet_the_target_is_refused_in_one_line(runs, tmp_path, capsys, run, target, needs):
    from hepgen.cli import main

    with pytest.raises(SystemExit) as info:
        main(["export", str(runs[run]), "--onnx", str(tmp_path / "x.onnx"), "--target", target])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needs in err
    assert not (tmp_path / "x.onnx").exists() and not card_path_of(tmp_path / "x.onnx").exists()


def test_cli_export_with_check(runs, tmp_path, capsys):
    from hepgen.cli import main

    with pytest.raises(SystemExit) as info:
        main(["export", str(runs["ds2"]), "--onnx", str(tmp_path / "p.onnx"), "--target", "par04-calodit", "--check",
              "--n-check", "4"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "card" in out and card_path_of(tmp_path / "p.onnx").is_file()
