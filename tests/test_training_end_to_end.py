"""Train -> resume -> generate -> evaluate on a few hundred small showers, through the API and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hepgen.cli import main
from hepgen.data import ShowerData, read_showers, write_showers
from hepgen.geometry import CylindricalGeometry
from hepgen.progress import set_quiet
from hepgen.training import generate, load_generator, train
from hepgen.training.run import RunDir

set_quiet(True)
torch.set_num_threads(1)

TOY = CylindricalGeometry("toy-cylinder", [np.array([0.0, 5.0, 10.0, 20.0])] * 4, [6] * 4)


def cylinder_showers(n: int, seed: int = 0) -> ShowerData:
    """Showers on a 4-layer x 6-alpha x 3-radius cylinder: core in radius bin 0, MIP-like 0.5 MeV halo hits."""
    rng = np.random.default_rng(seed)
    e = np.exp(rng.uniform(np.log(1e3), np.log(2e4), n))
    grid = np.zeros((n, 4, 6, 3))
    depth = np.array([0.2, 0.4, 0.3, 0.1])
    grid[:, :, :, 0] = depth[None, :, None] * e[:, None, None] / 6 * rng.uniform(0.8, 1.2, (n, 4, 6)) * 0.02
    halo = rng.random((n, 4, 6, 2)) < 0.3
    grid[:, :, :, 1:] = np.where(halo, rng.normal(0.5, 0.05, halo.shape).clip(0.1), 0.0)
    return ShowerData(e, grid.reshape(n, -1), TOY)


def evaluate(reference: ShowerData, generated: ShowerData) -> dict[str, float]:
    from hepgen.evaluate import quick_metrics

    return dict(quick_metrics(reference, generated))


def test_bibae_train_resume_generate_evaluate(tmp_path):
    data = cylinder_showers(300)
    cfg = {"labels": ["visible_energy"],
           "params": {"width": 8, "latent_dim": 3, "noise_dim": 4, "n_critic": 2, "pp_start_epoch": 1,
                      "pp_top_n": 30, "pp_window": 10, "pp_stride": 5, "pp_mmd_alphas": [4.0], "kde": True,
                      "beta_reconstruction": 1.0, "reset_critic": True},
           "training": {"batch_size": 30, "val_max": 60}}
    run = train("bibae", data, tmp_path / "run", cfg, max_epochs=1, seed=0)
    assert (run / "extra.npz").is_file()
    run = train("bibae", data, run, max_epochs=2, seed=0)          # resume: adds an epoch with the PP on
    log = [json.loads(l) for l in RunDir(run).metrics.read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1]
    assert "pp_mmd" not in log[0] and "pp_mmd" in log[1]
    gen = load_generator(run)
    assert bool(gen.model.pp_active)
    # visible-energy conditioning: showers are rescaled to the requested E_vis
    e = np.full(8, 5e3)
    out = gen.sample(e, labels={"visible_energy": np.full(8, 123.0)}, seed=1)
    assert np.allclose(out.visible_energy, 123.0, rtol=1e-4)
    # without the label it is drawn jointly from the latent KDE, near the training sample's E_vis range
    drawn = gen.sample(e, seed=1)
    vis = data.visible_energy[np.abs(np.log(data.incident_energy / 5e3)) < 0.3]
    assert vis.min() * 0.7 < np.median(drawn.visible_energy) < vis.max() * 1.3
    # stream to disk like a reference file and compare
    ref_file = tmp_path / "ref.h5"
    write_showers(ref_file, cylinder_showers(120, seed=5))
    out_file = generate(run, 120, f"like:{ref_file}", tmp_path / "gen.h5", seed=2, batch_size=50)
    ref, fake = read_showers(ref_file), read_showers(out_file)
    assert len(fake) == 120 and fake.geometry == TOY
    assert np.array_equal(fake.incident_energy, ref.incident_energy)
    metrics = evaluate(ref, fake)
    assert metrics and all(np.isfinite(v) for v in metrics.values())


def test_cli_train_and_generate(tmp_path, capsys):
    data_file = tmp_path / "train.h5"
    write_showers(data_file, cylinder_showers(120))
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: wgan\nparams:\n  width: 4\n  noise_dim: 4\n  constrainer_steps: 2\n"
                   "training:\n  batch_size: 30\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--quiet", "train", "--data", str(data_file), "-o", str(tmp_path / "run"), "--config", str(cfg),
              "--max-epochs", "1"])
    assert exit_info.value.code == 0
    out = tmp_path / "gen.h5"
    with pytest.raises(SystemExit) as exit_info:
        main(["--quiet", "generate", str(tmp_path / "run"), "-n", "70", "--energies", "log-uniform:1GeV:10GeV",
              "-o", str(out), "--batch-size", "30"])
    assert exit_info.value.code == 0
    showers = read_showers(out)
    assert len(showers) == 70 and showers.incident_energy.min() >= 1e3
    # an existing output is refused with one line and exit code 2, nothing overwritten
    before = out.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        main(["--quiet", "generate", str(tmp_path / "run"), "-n", "5", "-e", "50GeV", "-o", str(out)])
    assert exit_info.value.code == 2
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == before
    # --device: the same draws on the CPU by name; an unusable device is one line and exit code 2, no file
    with pytest.raises(SystemExit) as exit_info:
        main(["--quiet", "generate", str(tmp_path / "run"), "-n", "70", "--energies", "log-uniform:1GeV:10GeV",
              "-o", str(tmp_path / "gen_cpu.h5"), "--batch-size", "30", "--device", "cpu:0"])
    assert exit_info.value.code == 0
    np.testing.assert_array_equal(read_showers(tmp_path / "gen_cpu.h5").energy, showers.energy)
    for device in ("meta", "no-such-device"):
        with pytest.raises(SystemExit) as exit_info:
            main(["--quiet", "generate", str(tmp_path / "run"), "-n", "5", "-e", "50GeV",
                  "-o", str(tmp_path / "dev.h5"), "--device", device])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert f"device '{device}' is not usable here" in err and len(err.splitlines()) == 1
        assert not (tmp_path / "dev.h5").exists()


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "missing.h5", "-o", "r", "--model", "wgan"], "file not found"),
    (["train", "--data", "DATA", "-o", "r", "--model", "nosuch"], "unknown model 'nosuch'"),
    (["generate", "not-a-run", "-n", "5", "-e", "50GeV", "-o", "x.h5"], "not a hepgen run directory"),
])
def test_cli_bad_input_one_line_exit_2(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    write_showers(tmp_path / "data.h5", cylinder_showers(20))
    args = [a.replace("DATA", str(tmp_path / "data.h5")) for a in args]
    with pytest.raises(SystemExit) as exit_info:
        main(["--quiet"] + args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
