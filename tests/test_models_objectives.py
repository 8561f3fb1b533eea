"""The shared objectives and ODE solvers (hepgen.models.objectives, hepgen.models.solvers)."""

from __future__ import annotations

import math

import pytest
import torch

from hepgen.models.objectives import conditional_flow_matching_loss, lsgan_critic_loss, optimizer_step
from hepgen.models.solvers import integrate

torch.set_num_threads(1)


def test_integrators_have_their_order_on_a_linear_field():
    x0 = torch.ones(3, 2)
    errors = {m: [float((integrate(lambda x, t: -x, x0, n, m) - math.exp(-1)).abs().max()) for n in (10, 20)]
              for m in ("euler", "midpoint")}
    assert 1.8 < errors["euler"][0] / errors["euler"][1] < 2.2          # first order
    assert 3.6 < errors["midpoint"][0] / errors["midpoint"][1] < 4.4    # second order
    # time runs from t0 to t1 with one time per example
    seen = []
    integrate(lambda x, t: seen.append(t.clone()) or torch.zeros_like(x), x0, 2, "euler", t0=1.0, t1=2.0)
    assert [s.tolist() for s in seen] == [[1.0] * 3, [1.5] * 3]
    with pytest.raises(ValueError, match="unknown ODE method 'rk9'"):
        integrate(lambda x, t: x, x0, 1, "rk9")


def test_flow_matching_ignores_padding_and_applies_the_coupling():
    x1 = torch.randn(8, 5, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.arange(5).expand(8, 5) < torch.arange(1, 9).clamp(max=5)[:, None]

    def loss(x, coupling=None):
        torch.manual_seed(1)
        return conditional_flow_matching_loss(lambda xt, t: xt * t[:, None, None], x, mask, coupling)

    padded = x1.clone()
    padded[~mask] = 100.0
    assert torch.equal(loss(x1), loss(padded))
    # the loss by hand, with the reversed pairing of noise and data clouds
    reverse = lambda x0, x, m: torch.arange(len(x0) - 1, -1, -1)   # noqa: E731
    torch.manual_seed(1)
    x0 = torch.randn_like(x1).flip(0) * mask[..., None]
    t = torch.rand(8)[:, None, None]
    xt = t * x1 + (1 - t) * x0
    m = mask[..., None].float()
    expected = ((xt * t - (x1 - x0)) ** 2 * m).sum() / (m.sum() * 3)
    torch.testing.assert_close(loss(x1, reverse), expected)


def test_optimizer_step_clips_counts_and_returns_the_loss():
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([w], lr=1.0)
    count = torch.zeros((), dtype=torch.long)
    out = optimizer_step((w * torch.tensor([30.0, 40.0])).sum(), opt, clip=5.0, counter=count)
    assert out.requires_grad is False and int(count) == 1
    torch.testing.assert_close(w.detach(), torch.tensor([-3.0, -4.0]))     # gradient (30, 40) clipped to norm 5


def test_lsgan_scales():
    real, fake = torch.tensor([0.5, 1.0]), torch.tensor([0.5, 0.0])
    assert float(lsgan_critic_loss(real, fake)) == pytest.approx(0.125 + 0.125)
    assert float(lsgan_critic_loss(real, fake, scale=0.5)) == pytest.approx(0.125)
