"""The pion models of "Hadrons, better, faster, stronger" (Buhmann et al., arXiv:2112.09709): minibatch
discrimination, the resetting critic, the latent KDE, the ResNet critic and the `pion` presets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hepgen.data import ShowerData
from hepgen.errors import InputError
from hepgen.geometry import geometry_from_spec
from hepgen.models.bibae import BIBAE, DifferenceCritic
from hepgen.models.latent_kde import LatentKDE
from hepgen.models.layers import (MinibatchDiscrimination, MinibatchStatistics, ResNetTrunk, ShowerBatchStatistics,
                                  reinitialise)
from hepgen.models.wgan import Critic
from hepgen.progress import set_quiet
from hepgen.training import load_generator, train
from hepgen.training.config import config_presets, resolve_config
from hepgen.training.run import RunDir

set_quiet(True)
torch.set_num_threads(1)
SHAPE = (6, 5, 5)   # a small AHCAL-like grid (layers, y, x)


def small_ahcal_showers(n: int, seed: int = 0) -> ShowerData:
    geo = geometry_from_spec({"type": "cartesian", "name": "mini-ahcal", "nx": 5, "ny": 5, "nz": 6,
                              "cell_size_mm": [30, 30]})
    rng = np.random.default_rng(seed)
    e_inc = np.exp(rng.uniform(np.log(1e4), np.log(1e5), n))
    energy = rng.exponential(1.0, (n, geo.n_voxels)) * (rng.random((n, geo.n_voxels)) < 0.3)
    energy *= (0.02 * e_inc / np.maximum(energy.sum(1), 1e-9))[:, None]
    return ShowerData(e_inc, energy.astype(np.float32), geo)


# -- minibatch discrimination ---------------------------------------------------------------------------------

def test_minibatch_layers_shapes_and_gradients():
    torch.manual_seed(0)
    x = torch.randn(6, 3, requires_grad=True)
    mbs = MinibatchStatistics(3, 4, hidden=8, aggregates=("std", "mean"))
    out = mbs(x)
    assert out.shape == (6, 8) and mbs.out_features == 8
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mbs.parameters())
    assert MinibatchDiscrimination(3, 5, 2)(x).shape == (6, 5)
    block = ShowerBatchStatistics(out_features=8, embed=4, hidden=8)
    showers = torch.rand(5, *SHAPE, requires_grad=True)
    feats = block(showers)
    assert feats.shape == (5, 16) == (5, block.out_features)
    feats.sum().backward()
    assert torch.isfinite(showers.grad).all() and showers.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="aggregates"):
        MinibatchStatistics(3, 4, aggregates=("max",))


def test_minibatch_tells_a_collapsed_batch_from_a_diverse_one():
    torch.manual_seed(1)
    diverse = torch.randn(16, 3)
    collapsed = diverse[:1].repeat(16, 1)
    mbs = MinibatchStatistics(3, 4, hidden=16)
    assert float(mbs(collapsed).detach().abs().max()) == 0.0          # no spread against the batch
    assert float(mbs(diverse).detach().mean()) > 1e-3
    salimans = MinibatchDiscrimination(3, 5, 2)
    assert torch.allclose(salimans(collapsed), torch.ones(16, 5))   # every other example is at distance 0
    assert float(salimans(diverse).detach().max()) < 1.0
    # a critic sees one example alike with or without its batch unless it has minibatch discrimination
    showers = torch.rand(8, *SHAPE) * (torch.rand(8, *SHAPE) < 0.3)
    copies = showers[:1].repeat(8, 1, 1, 1)
    cond = torch.zeros(8, 1)
    for minibatch in (False, True):
        torch.manual_seed(2)
        critic = Critic(SHAPE, 1, 4, "resnet", None, [1, 1], [4, 8], minibatch)
        alone, in_batch = critic(copies, cond)[0], critic(showers, cond)[0]
        assert bool(torch.isclose(alone, in_batch, atol=1e-5)) is (not minibatch)


# -- the resetting critic -------------------------------------------------------------------------------------

def _tiny_bibae(**extra) -> BIBAE:
    cfg = {**BIBAE.default_config, "width": 4, "latent_dim": 3, "noise_dim": 4, "n_critic": 1, "reset_critic": True,
           "minibatch": True, "pp_width": 8, "pp_top_n": 30, "pp_window": 10, "pp_stride": 5, **extra}
    return BIBAE(SHAPE, 1, cfg)


def test_reset_critic_redraws_all_its_weights_and_nothing_else():
    torch.manual_seed(0)
    m = _tiny_bibae()
    with torch.no_grad():               # stand-in for training: move every weight away from its initial value
        for p in m.parameters():
            p.add_(0.5)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    m.on_train_epoch_end(0)
    after = m.state_dict()
    reset = [k for k in before if k.startswith("reset_critic.")]
    assert any("batch_stats" in k for k in reset)               # the minibatch block is part of the reset
    for k, v in before.items():
        changed = not torch.equal(v, after[k])
        assert changed is k.startswith("reset_critic."), k
    # the optimiser-only mode (the public script's effect) keeps the weights
    m2 = _tiny_bibae(reset_critic_mode="optimizer")
    w = {k: v.clone() for k, v in m2.reset_critic.state_dict().items()}
    m2.on_train_epoch_end(0)
    assert all(torch.equal(w[k], v) for k, v in m2.reset_critic.state_dict().items())
    with pytest.raises(InputError, match="reset_critic_mode"):
        _tiny_bibae(reset_critic_mode="sometimes")


def test_reset_critic_gets_a_fresh_adam_state_at_the_next_step():
    torch.manual_seed(0)
    m = _tiny_bibae(pp_mode="off")
    opts = m.configure_optimizers()
    batch = {"x": torch.rand(4, *SHAPE) * 0.01, "cond": torch.zeros(4, 1)}

    def adam_step(name):
        return max(int(s["step"]) for s in opts[name].state.values())

    m.training_step(batch, opts, 0, 0)
    m.training_step(batch, opts, 1, 0)
    assert adam_step("reset_critic") == 2 and adam_step("critic") == 2
    m.on_train_epoch_end(0)
    m.training_step(batch, opts, 2, 1)
    assert adam_step("reset_critic") == 1 and adam_step("critic") == 3


def test_reinitialise_refuses_a_parameter_it_cannot_reset():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    net.register_parameter("bare", torch.nn.Parameter(torch.zeros(2)))
    with pytest.raises(ValueError, match="bare"):
        reinitialise(net)


def test_difference_critic_with_minibatch_block():
    critic = DifferenceCritic(SHAPE, 2, 4, None, minibatch=True)
    pair = torch.rand(5, 2, *SHAPE)
    assert critic(pair, torch.zeros(5, 2)).shape == (5,)


# -- the latent KDE -------------------------------------------------------------------------------------------

def test_latent_kde_reproduces_mean_and_covariance():
    rng = np.random.default_rng(0)
    mean = np.array([1.0, -2.0, 0.5])
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 2.0, -0.3], [0.0, -0.3, 0.5]])
    points = torch.as_tensor(rng.multivariate_normal(mean, cov, 20000))
    kde = LatentKDE(bandwidth=0.1).fit(points, max_points=10000)
    assert kde.points.shape == (10000, 3)
    g = torch.Generator().manual_seed(1)
    draws = kde.sample(100000, g).numpy()
    np.testing.assert_allclose(draws.mean(0), mean, atol=0.05)
    # SciPy's convention: kernel covariance h² · cov(points), so draws have (1 + h²) times the points' covariance
    np.testing.assert_allclose(np.cov(draws, rowvar=False), 1.01 * np.cov(kde.points.numpy(), rowvar=False), atol=0.04)
    np.testing.assert_allclose(np.cov(draws, rowvar=False), cov, atol=0.08)
    # conditioning on the last column (a label) keeps the latent-label correlation: E[x0 | x2 = t] = 1 (const.)
    # and E[x1 | x2 = t] = -2 - 0.6 (t - 0.5)
    cond = kde.sample_conditional(torch.full((4000, 1), 1.0), [2], 0.05, g).numpy()
    assert np.abs(cond[:, 2] - 1.0).max() <= 0.05
    assert abs(cond[:, 1].mean() - (-2.0 - 0.6 * 0.5)) < 0.1 and abs(cond[:, 0].mean() - 1.0) < 0.1
    # a label far outside the data is never accepted: the kernel around the nearest stored label
    far = kde.sample_conditional(torch.full((5, 1), 50.0), [2], 0.05, g, tries=3)
    nearest = float(kde.points[:, 2].max())
    assert float((far[:, 2] - nearest).abs().max()) < 0.5
    back = LatentKDE()
    back.load_state_dict(kde.state_dict())
    assert torch.equal(back.points, kde.points) and torch.equal(back.chol, kde.chol)
    assert torch.equal(back.sample_conditional(torch.ones(3, 1), [2], 0.05, torch.Generator().manual_seed(4)),
                       kde.sample_conditional(torch.ones(3, 1), [2], 0.05, torch.Generator().manual_seed(4)))
    with pytest.raises(ValueError, match="latent KDE"):
        LatentKDE().fit(torch.zeros(1, 3))


def test_bibae_reads_runs_from_before_the_torch_kde():
    """Older BIB-AE runs: weights without the KDE's buffers and an extra with only the points."""
    cfg = {**BIBAE.default_config, **TINY_BIBAE, "kde": True}
    m = BIBAE((1, 5, 5), 1, cfg)
    old = {k: v for k, v in m.state_dict().items() if not k.startswith("kde.")}
    m.load_state_dict(old)
    assert not m.kde.fitted and m.kde_points is None
    pts = np.random.default_rng(0).normal(size=(50, cfg["latent_dim"] + 1))
    m.load_extra({"kde_points": pts})
    assert m.kde.fitted and m.kde.chol.shape == (4, 4)
    np.testing.assert_allclose(m.kde_points.numpy(), pts, rtol=1e-6)
    extra = m.after_training({"x": torch.rand(20, 1, 5, 5), "cond": torch.zeros(20, 1)})
    assert extra["kde_points"].shape == (20, 4) and extra["kde_chol"].shape == (4, 4)


# -- ResNet critic, presets -----------------------------------------------------------------------------------

def test_resnet_trunk_follows_the_blocks_and_planes():
    t = ResNetTrunk(SHAPE, planes=(4, 8), blocks=(3, 4))
    assert [len(s) for s in t.stages] == [3, 4] and t.out_features == 8
    assert t(torch.zeros(2, 1, *SHAPE)).shape == (2, 8)
    assert any(isinstance(mod, torch.nn.InstanceNorm3d) for mod in t.modules())
    with pytest.raises(ValueError, match="same length"):
        ResNetTrunk(SHAPE, planes=(4,), blocks=(1, 2))


def test_pion_presets_follow_the_thesis(tmp_path):
    w = resolve_config("wgan", "pion")
    assert w["params"]["lr_generator"] == 1e-4 and w["params"]["lr_critic"] == 1e-5
    assert w["params"]["n_critic"] == 5 and w["training"]["max_epochs"] == 82
    assert w["params"]["critic"] == "resnet" and w["params"]["critic_blocks"] == [3, 4]
    assert w["params"]["constrainer_hidden"] == [5000, 1000, 100]
    b = resolve_config("bibae", "pion")["params"]
    assert (b["lr"], b["lr_latent_critic"], b["lr_decay"]) == (5e-5, 2e-4, 0.97)
    assert (b["beta_critic"], b["beta_latent_critic"], b["beta_kld"], b["beta_latent_mmd"]) == (1, 100, 0.01, 100)
    assert (b["pp_mse"], b["pp_mmd"], b["pp_mmd_alphas"], b["pp_sorted"], b["pp_batch"]) == (1, 5, [40, 4], 10, 1e-4)
    assert b["kde"] and b["kde_bandwidth"] == 0.1 and b["reset_critic"] and b["minibatch"]
    assert b["pp_mode"] == "frozen" and b["pp_start_epoch"] == 37
    assert resolve_config("bibae", "pion")["training"]["max_epochs"] == 37 + 105
    assert set(config_presets("bibae")) == {"pion", "pion-small", "seed-size", "testbeam", "testbeam-small"}   # testbeam: Ch. 8
    with pytest.raises(InputError, match="presets: pion, pion-small"):
        resolve_config("wgan", "pions")
    own = tmp_path / "pion"           # a file of that name wins over the preset
    own.write_text("params: {n_critic: 3}\n")
    assert resolve_config("wgan", own)["params"]["n_critic"] == 3


TINY_WGAN = {"critic_blocks": [1, 1], "critic_planes": [4, 8], "width": 4, "noise_dim": 4, "constrainer_steps": 2,
             "constrainer_hidden": [16, 8], "n_critic": 2}
TINY_BIBAE = {"width": 4, "latent_dim": 3, "noise_dim": 4, "n_critic": 2, "pp_width": 8, "pp_depth": 3,
              "pp_start_epoch": 1, "pp_top_n": 60, "pp_window": 20, "pp_stride": 10, "kde_max": 200}


@pytest.mark.parametrize("model, tiny", [("wgan", TINY_WGAN), ("bibae", TINY_BIBAE)])
def test_pion_presets_build_on_the_irregular_calochallenge_pion_geometry(model, tiny):
    from hepgen.geometry import get_geometry
    from hepgen.models.registry import get_model_class

    geo = get_geometry("calochallenge-1-pions")
    cls = get_model_class(model)
    m = cls((geo.n_voxels,), 1, {**resolve_config(model, "pion")["params"], **tiny}, geo).eval()
    x = m.sample(torch.zeros(4, 1), torch.Generator().manual_seed(0))
    assert x.shape == (4, 533) and bool((x >= 0).all())
    assert m.critic(x if model == "wgan" else torch.stack([x, x * 0], 1), torch.zeros(4, 1)).shape == (4,)


# -- end to end -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, tiny", [("wgan", TINY_WGAN), ("bibae", TINY_BIBAE)])
def test_pion_configs_train_end_to_end(model, tiny, tmp_path):
    preset = resolve_config(model, "pion")
    cfg = {"params": {**preset["params"], **tiny}, "training": {"batch_size": 8, "val_fraction": 0.0}}
    run = train(model, small_ahcal_showers(24), tmp_path / "run", cfg, max_epochs=2, seed=0)
    assert RunDir(run).state()["status"] == "finished"
    gen = load_generator(run)
    out = gen.sample(incident_energy=np.array([2e4, 5e4, 8e4]), seed=1)
    assert out.energy.shape == (3, 150) and np.isfinite(out.energy).all() and (out.energy >= 0).all()
    if model == "bibae":
        assert gen.model.kde is not None and gen.model.kde.points.shape == (24, 3 + 1)
        assert bool(gen.model.pp_active)


def test_cli_config_takes_a_preset_name(tmp_path, capsys):
    from conftest import random_showers
    from hepgen.cli import main
    from hepgen.data.hdf5 import write_showers
    from hepgen.training.config import load_yaml

    write_showers(tmp_path / "train.h5", random_showers("belle2-ecl-5x5", 24, seed=1))

    def cli(*args):
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main(["-q", "train", "-d", str(tmp_path / "train.h5"), "--max-epochs", "1", *args])
        return e.value.code, capsys.readouterr().err

    code, err = cli("-o", str(tmp_path / "run"), "-m", "wgan", "--config", "pion-small")
    assert code == 0, err
    saved = load_yaml(RunDir(tmp_path / "run").config)
    assert saved["params"]["critic_blocks"] == [1, 1] and saved["params"]["lr_critic"] == 1e-5
    code, err = cli("-o", str(tmp_path / "run2"), "-m", "bibae", "--config", "pions")
    assert code == 2 and "presets: pion, pion-small" in err and len(err.strip().splitlines()) == 1
