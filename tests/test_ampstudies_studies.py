"""Study drivers end to end on tiny samples: GAN toys through the shared loop, Calomplification."""

import json

import numpy as np
import pytest

from hepgen.amplify.calomplification import calomplification_study, simulate_images
from hepgen.amplify.gan_toys import gan_toy_study
from hepgen.amplify.study import write_study
from hepgen.amplify.surrogates import array_config, sample_arrays
from hepgen.training import train
from conftest import TINY_PARAMS
from hepgen.errors import InputError
from hepgen.progress import set_quiet

set_quiet(True)
TINY = {"params": TINY_PARAMS["ganplify-gan"], "training": {"batch_size": 10}}


def test_train_on_arrays_writes_run_and_resumes(tmp_path):
    x = np.random.default_rng(0).normal(5.0, 2.0, (60, 2))
    run = train("ganplify-gan", x, tmp_path / "run", array_config(TINY, repeat=2), max_epochs=1)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    lines = (run / "logs" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "loss_d" in json.loads(lines[0])
    train("ganplify-gan", x, run, None, max_epochs=2)                           # resume: one more epoch
    assert len((run / "logs" / "metrics.jsonl").read_text().splitlines()) == 2
    s = sample_arrays(run, 500, seed=0)
    assert s.shape == (500, 2) and np.isfinite(s).all()
    assert abs(s.mean() - 5.0) < 5.0                                           # back in data units


def test_train_refuses_arrays_for_shower_models(tmp_path):
    with pytest.raises(InputError, match="expected showers"):
        train("wgan", np.zeros((10, 2)), tmp_path / "r", None, max_epochs=1)


def test_gan_toy_study_end_to_end(tmp_path):
    r = gan_toy_study("ring", [4], tmp_path, repeats=2, n_train=30, n_samples=3000, config=TINY,
                      coordinates=[(0,), (0, 1)], max_epochs=2, steps_per_epoch=6)
    assert set(r["results"]) == {"r", "r+phi"}
    # 6 steps of batch 10 per epoch on 30 points = 2 whole passes; 2 epochs
    assert r["repeat_data"] == 2 and r["steps"] == [12, 12] and r["passes_over_data"] == [4, 4]
    combined = r["results"]["r+phi"]
    assert combined["gan"][0]["n_quant"] == 16
    # a training sample's own factor is near 1 by construction (statistics-limited): within a wide band
    assert 0.2 < combined["train"][0]["factor_from_mean_mse"] < 5
    assert combined["gan"][0]["rmse_mean"] > 0


def test_calomplification_study_on_simulated_images(tmp_path):
    imgs = simulate_images(600, seed=5, threshold_mev=0.0)
    assert imgs.shape == (600, 10, 10)
    assert 1000 < imgs.sum(axis=(1, 2)).mean() < 1500            # visible energy of 50 GeV photons, MeV
    train, ref = imgs[:100], imgs[100:]
    # "generated" = five more simulated samples of 60: their equivalent size must come out near 60
    gens = [ref[i * 60:(i + 1) * 60] for i in range(5)]
    res = calomplification_study([train], gens, ref[300:], 100, ["E_vis", "CG_x+CG_y"], sizes=[50, 100],
                                 n_quant=[2, 4, 8], baselines=[])
    files = write_study(res, tmp_path / "amp", plots=False)
    assert all(f.is_file() for f in files)
    assert res["sets"]["E_vis"]["n_train"] == 100
    eq = res["sets"]["E_vis"]["equivalent"]["generated"]["multinomial"]
    assert eq[2]["n_quant"] == 8 and 25 < eq[2]["value"] < 150


def test_cli_gan_toys_rejects_unknown_toy(tmp_path, capsys):
    from hepgen.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["gan-toys", "--toy", "donut", "-o", str(tmp_path / "t.json"), "--workdir", str(tmp_path / "w")])
    assert exc.value.code == 2
    assert "unknown toy 'donut'" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists()


def test_cli_calomplification_rejects_negative_mmd_weight(tmp_path, capsys):
    from hepgen.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["calomplification", "-o", str(tmp_path / "amp"), "--workdir", str(tmp_path / "w"), "--evis-mmd", "-1"])
    assert exc.value.code == 2
    assert "evis_mmd: a weight >= 0 was expected, got -1" in capsys.readouterr().err
    assert not (tmp_path / "amp").exists() and not (tmp_path / "w").exists()
