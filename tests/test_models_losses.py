"""Loss terms on small tensors with values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from hepgen.models.objectives import (constrainer_loss, gaussian_mmd, gradient_penalty, kl_divergence, latent_mmd,
                                  sorted_kernel_mmd)


def test_gradient_penalty_of_linear_critic_is_known():
    w = torch.tensor([3.0, 4.0])                       # |grad| = 5 everywhere
    critic = lambda x: x @ w
    gp = gradient_penalty(critic, torch.randn(7, 2), torch.randn(7, 2), weight=10.0)
    assert gp.item() == pytest.approx(10.0 * (5.0 - 1.0) ** 2)


def test_gradient_penalty_uses_interpolates_and_labels_of_the_batch():
    # critic = 0.5 * |x|^2 * label: gradient x * label, taken at eps*real + (1-eps)*fake
    real, fake = torch.ones(4, 1), torch.ones(4, 1)    # interpolate is 1 whatever eps
    labels = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    critic = lambda x, c: 0.5 * (x ** 2).sum(dim=1) * c[:, 0]
    gp = gradient_penalty(critic, real, fake, labels, weight=1.0)
    assert gp.item() == pytest.approx(((labels[:, 0] - 1.0) ** 2).mean().item())   # (0 + 1 + 4 + 9) / 4
    # gradient flows to the critic's parameters (it is a training loss)
    w = torch.tensor(2.0, requires_grad=True)
    gradient_penalty(lambda x: w * x.sum(dim=1), torch.zeros(3, 2), torch.ones(3, 2), weight=1.0).backward()
    assert w.grad.item() == pytest.approx(2 * (2 * math.sqrt(2) - 1) * math.sqrt(2))


def test_constrainer_loss_matches_formula():
    a_fake = torch.tensor([1.0, 2.0, 0.0])
    a_real = torch.tensor([1.5, 1.0, 0.5])
    e = torch.tensor([1.0, 1.0, 1.0])
    # |(a'-E)^2 - (a-E)^2| = |0 - 0.25|, |1 - 0|, |1 - 0.25| -> mean 2/3
    assert constrainer_loss(a_fake, a_real, e, kappa=3.0).item() == pytest.approx(3.0 * 2.0 / 3.0)
    assert constrainer_loss(a_real, a_real, e).item() == 0.0


def test_gaussian_mmd_two_point_sets():
    x, y = torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.0])
    k = lambda d2: math.exp(-2.0 * d2)
    expected = (1 + k(1) + k(1) + 1) / 4 + 1 - 2 * (1 + 1 + k(1) + k(1)) / 4
    assert gaussian_mmd(x, y, alphas=[2.0]).item() == pytest.approx(expected)


def test_sorted_kernel_mmd_windows_on_sorted_hits():
    fake = torch.tensor([[0.0, 3.0, 1.0, 2.0]])        # sorted: 3 2 1 0
    real = torch.tensor([[2.0, 0.0, 3.0, 1.5]])        # sorted: 3 2 1.5 0
    # top 4, window 2, stride 2: windows (3,2)|(3,2) -> 0 and (1,0)|(1.5,0)
    expected = 0.5 * (0.0 + gaussian_mmd(torch.tensor([1.0, 0.0]), torch.tensor([1.5, 0.0]), [0.7]).item())
    assert sorted_kernel_mmd(fake, real, top_n=4, window=2, stride=2, alpha=0.7).item() == pytest.approx(expected)
    # permuting cells does not change it (it compares spectra, not positions)
    perm = fake[:, torch.tensor([3, 2, 1, 0])]
    assert sorted_kernel_mmd(perm, real, 4, 2, 2, 0.7).item() == pytest.approx(expected)
    # cut at the top 2: only the identical window remains
    assert sorted_kernel_mmd(fake, real, top_n=2, window=2, stride=2, alpha=0.7).item() == pytest.approx(0.0)


def test_sorted_kernel_mmd_is_differentiable():
    fake = torch.rand(3, 20, requires_grad=True)
    sorted_kernel_mmd(fake, torch.rand(3, 20), 10, 5, 2, 50.0).backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0


def test_latent_mmd_known_value_and_prior_match():
    z = torch.tensor([[0.0, 0.0]])
    prior = torch.tensor([[1.0, 1.0]])                 # squared distance 2
    expected = 2 * 2 - 2 * (math.exp(-2.0) + math.exp(-0.02))
    assert latent_mmd(z, prior).item() == pytest.approx(expected)
    g = torch.Generator().manual_seed(0)
    near = latent_mmd(torch.randn(400, 2, generator=g), generator=g).item()
    far = latent_mmd(torch.randn(400, 2, generator=g) + 3.0, generator=g).item()
    assert near < 0.02 < far


def test_kl_divergence_closed_form():
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [0.0, 0.0]])
    # per row: 0.5 * sum(var + mu^2 - 1 - log var)
    row1 = 0.5 * ((1 + 1 - 1 - 0) + (4 + 0 - 1 - math.log(4.0)))
    row2 = 0.5 * ((1 + 0 - 1 - 0) + (1 + 4 - 1 - 0))
    assert kl_divergence(mu, logvar).item() == pytest.approx((row1 + row2) / 2)
