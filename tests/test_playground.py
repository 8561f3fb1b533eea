"""The Two Moons playground (B. Käch, PhD thesis (2024), Ch. 4) and the objectives it added to the shared set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hepgen.cli import main
from hepgen.models.objectives import (clip_parameters, conditional_flow_matching_loss, ddpm_loss, ddpm_schedule,
                                      generator_bce_loss, minimax_generator_loss, vae_loss)
from hepgen.models.solvers import ddpm_sample
from hepgen.studies.playground import (TRUTH_MEAN, TRUTH_STD, evaluate_samples, moon_assignment, sample_model,
                                       train_model, two_moons)

torch.set_num_threads(1)


# -- the shared objectives the playground added --------------------------------------------------------------

def test_minimax_generator_loss_saturates_where_the_non_saturating_one_does_not():
    logits = torch.tensor([-8.0], requires_grad=True)          # the discriminator rejects the fake confidently
    g_minimax, = torch.autograd.grad(minimax_generator_loss(logits), logits)
    g_ns, = torch.autograd.grad(generator_bce_loss(logits), logits)
    assert abs(float(g_minimax)) < 1e-3 < 0.99 < abs(float(g_ns))
    # both are minimised by fooling the discriminator: the minimax value is log(1 - D)
    torch.testing.assert_close(minimax_generator_loss(torch.tensor([2.0])), torch.log(1 - torch.sigmoid(
        torch.tensor(2.0))))


def test_weight_clipping_and_the_vae_loss():
    net = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(net.weight, 5.0)
    clip_parameters(net.parameters(), 0.05)
    assert float(net.weight.detach().max()) == pytest.approx(0.05)
    assert float(net.bias.detach().abs().max()) <= 0.05 + 1e-7      # float32 rounding of the bound
    x = torch.randn(16, 2)
    loss, rec, kl = vae_loss(x + 1, x, torch.zeros(16, 2), torch.zeros(16, 2), kl_weight=3.0)
    assert float(rec) == pytest.approx(2.0) and float(kl) == 0.0 and float(loss) == pytest.approx(2.0)
    loss, _, kl = vae_loss(x, x, torch.ones(16, 2), torch.zeros(16, 2), kl_weight=0.5)
    assert float(kl) == pytest.approx(1.0) and float(loss) == pytest.approx(0.5)   # KL(N(1, 1) | N(0, 1)) = 1/2


def test_ddpm_sampler_with_the_exact_noise_predictor_reproduces_a_gaussian():
    """For data N(m, s²) the optimal ε-predictor is known; the chain must end on N(m, s²) and its loss must be
    below that of predicting zero noise (E|ε|² = 1)."""
    m, s, n_noise = 1.5, 0.3, 100
    betas = ddpm_schedule(n_noise)
    alpha_bar = torch.cumprod(1 - betas, 0).float()

    def exact_eps(x, level):
        a = alpha_bar[(level * n_noise).round().long() - 1, None]
        return (1 - a).sqrt() * (x - a.sqrt() * m) / (a * s ** 2 + 1 - a)

    torch.manual_seed(0)
    x = ddpm_sample(exact_eps, torch.randn(20_000, 1), betas)
    assert float(x.mean()) == pytest.approx(m, abs=0.01) and float(x.std()) == pytest.approx(s, rel=0.06)   # σ_t² = β_t: +4 % at T = 100
    data = m + s * torch.randn(20_000, 1)
    assert float(ddpm_loss(exact_eps, data, betas)) < 0.5 * float(ddpm_loss(lambda v, t: 0 * v, data, betas))
    with pytest.raises(ValueError, match="beta_start <= beta_end"):
        ddpm_schedule(10, beta_start=0.5, beta_end=0.1)


def test_flow_matching_from_a_data_source_is_exact_for_a_translation():
    x0 = torch.randn(64, 1, 2)
    shift = torch.tensor([2.0, -1.0])
    mask = torch.ones(64, 1, dtype=torch.bool)
    exact = conditional_flow_matching_loss(lambda xt, t: shift.expand_as(xt), x0 + shift, mask, x0=x0)
    wrong = conditional_flow_matching_loss(lambda xt, t: 0 * xt, x0 + shift, mask, x0=x0)
    assert float(exact) < 1e-10 and float(wrong) == pytest.approx(2.5)   # |shift|² / 2 features


# -- the data and the study metrics --------------------------------------------------------------------------

def test_two_moons_matches_its_standardisation_and_the_coverage_metric_sees_a_dropped_moon():
    x, label = two_moons(200_000, torch.Generator().manual_seed(3))
    np.testing.assert_allclose(x.mean(0).numpy(), TRUTH_MEAN, atol=0.01)
    np.testing.assert_allclose(x.std(0).numpy(), TRUTH_STD, rtol=0.01)
    upper = x[label == 0].numpy()
    assert upper[:, 1].min() > -0.3 and x[label == 1].numpy()[:, 1].max() < 0.8   # interleaved crescents
    truth = moon_assignment(x[:20_000].numpy())
    collapsed = moon_assignment(upper[:20_000])
    assert truth["upper_moon_fraction"] == pytest.approx(0.5, abs=0.01) and truth["off_moon_fraction"] < 0.01
    assert collapsed["upper_moon_fraction"] > 0.99
    assert moon_assignment(np.random.default_rng(0).normal(0.5, 1.0, (5000, 2)))["off_moon_fraction"] > 0.5


def test_metrics_rank_a_smeared_sample_behind_a_second_truth_sample():
    gen = torch.Generator().manual_seed(0)
    truth, twin = two_moons(3000, gen)[0].double().numpy(), two_moons(3000, gen)[0].double().numpy()
    smeared = twin + np.random.default_rng(1).normal(0, 0.3, twin.shape)
    rows = evaluate_samples({"twin": twin, "smeared": smeared, "broken": np.full_like(twin, np.nan)}, truth,
                            classifier_options={"n_epochs": 5})
    assert rows["twin"]["auc"] < 0.56 < rows["smeared"]["auc"]
    assert rows["twin"]["fgd_inf"] < rows["smeared"]["fgd_inf"]
    assert rows["twin"]["multiclass_share"] > rows["smeared"]["multiclass_share"]
    assert np.isnan(rows["broken"]["w1_x"]) and rows["broken"]["off_moon_fraction"] == 1.0


# -- the ordering of the thesis on a tiny budget -------------------------------------------------------------

def test_flows_and_flow_matching_beat_the_minimax_gan_on_a_tiny_budget():
    """Thesis Ch. 4: flows and (OT-)CFM ahead of the GANs. A few hundred steps at batch 128 suffice for OT-CFM and
    the RQS flow to reach W1 ~0.01-0.03 per marginal, while the minimax GAN is still far off (W1 ~0.1)."""
    gen = torch.Generator().manual_seed(11)
    truth = two_moons(4000, gen)[0].double().numpy()
    w1, fgd = {}, {}
    for name, steps in (("ot-cfm", 300), ("nf-rqs", 300), ("gan-minimax", 300)):
        model, info = train_model(name, steps, seed=2, batch_size=128)
        assert info["steps"] == steps
        rows = evaluate_samples({name: sample_model(model, 4000)}, truth, classifier=False, multiclass=False)
        w1[name] = rows[name]["w1_x"] + rows[name]["w1_y"]
        fgd[name] = rows[name]["fgd_inf"]
    assert max(w1["ot-cfm"], w1["nf-rqs"]) < 0.6 * w1["gan-minimax"], w1
    assert max(fgd["ot-cfm"], fgd["nf-rqs"]) < fgd["gan-minimax"], fgd


def test_playground_command_writes_table_json_and_figure(tmp_path, capsys):
    out = tmp_path / "pg"
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "playground", "--models", "cfm,gan-ns,vae", "--steps", "5", "--n-eval", "400",
              "--no-classifier", "--out", str(out)])
    assert e.value.code == 0
    result = json.loads((out / "playground.json").read_text())
    assert set(result["models"]) == {"cfm", "gan-ns", "vae"} and result["models"]["cfm"]["steps"] == 5
    assert "| cfm |" in (out / "playground.md").read_text()
    assert (out / "playground.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:                           # outputs are not clobbered
        main(["--quiet", "playground", "--models", "cfm", "--steps", "1", "--out", str(out)])
    assert e.value.code == 2 and "--overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["--quiet", "playground", "--models", "cfm,bogus", "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and "bogus" in capsys.readouterr().err


# -- the rotating-Gaussian morphing toy (thesis Sec. 7.1) -----------------------------------------------------

def test_rotating_gaussian_covariances_and_the_4d_variant():
    from hepgen.studies.morphing import covariance, rotating_gaussian

    np.testing.assert_allclose(covariance(0.0), [[1.0, -0.99], [-0.99, 1.0]])
    np.testing.assert_allclose(covariance(np.pi / 4), [[1.99, 0.0], [0.0, 0.01]], atol=1e-12)
    x = rotating_gaussian(40_000, np.pi / 8, torch.Generator().manual_seed(0), dim=4).double().numpy()
    c = np.cov(x.T)
    np.testing.assert_allclose(c[:2, :2], covariance(np.pi / 8), atol=0.04)
    np.testing.assert_allclose(c[2:, 2:], covariance(np.pi / 8), atol=0.04)
    assert np.abs(c[:2, 2:]).max() < 0.03                           # two independent draws side by side
    with pytest.raises(ValueError, match="dim must be 2 or 4"):
        rotating_gaussian(3, 0.0, dim=3)


def test_ot_cfm_with_the_midpoint_rotates_and_reaches_the_target():
    """Thesis Fig. 7.4: OT-CFM through φ = π/4 carries the points along the rotation (lower right -> upper right);
    without the midpoint the side of the anti-diagonal decides (about half go the wrong way)."""
    from hepgen.studies.morphing import MorphingCFM, _train, right_quadrant_fraction, rotating_gaussian
    from hepgen.evaluate import w1

    gen = torch.Generator().manual_seed(5)
    source = rotating_gaussian(3000, 0.0, gen)
    target = rotating_gaussian(3000, np.pi / 2, gen).numpy()
    fractions = {}
    for midpoint in (True, False):
        model = MorphingCFM(coupling="ot", midpoint=midpoint)
        _train(model, 300, 128, seed=1)
        end = model.transport(source).numpy()
        fractions[midpoint] = right_quadrant_fraction(source.numpy(), end)
        if midpoint:
            assert w1(target[:, 0], end[:, 0]) + w1(target[:, 1], end[:, 1]) < 0.25
    assert fractions[True] > 0.85 and fractions[False] < 0.75, fractions
