"""MDMA-Flow, EPiC-GAN, JetFlow (NF, NF(c)) and TGAN: tiny train -> generate -> evaluate round trips,
the midpoint solver, OT pairing and condition sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hepgen.data import read_jets
from conftest import TINY_PARAMS, toy_jets   # the same toy jets (12 slots here)

torch.set_num_threads(1)


TINY = {name: TINY_PARAMS[name] for name in ("mdma-flow", "epic-gan", "jet-flow", "tgan")}


@pytest.mark.parametrize("name", sorted(TINY))
def test_train_generate_evaluate_round_trip(name, tmp_path):
    from hepgen.evaluate.jets import w1m, w1p
    from hepgen.progress import set_quiet
    from hepgen.training import generate, train

    set_quiet(True)
    ref = toy_jets(96, 12, seed=1)
    cfg = {"params": TINY[name], "training": {"batch_size": 32, "num_threads": 1}}
    run = train(name, ref, tmp_path / "run", cfg, max_epochs=1, seed=2)
    out = generate(run, 150, None, tmp_path / "gen.h5", seed=3, batch_size=64)
    gen = read_jets(out)
    assert len(gen) == 150 and gen.n_max == 12
    assert gen.n_particles.min() >= 1 and np.isfinite(gen.particles).all()
    assert np.all(gen.particles[~gen.mask] == 0) and np.all(gen.particles[..., 2] >= 0)
    assert np.all(np.abs(gen.particles[..., 1]) <= np.pi + 1e-6)
    assert np.isfinite(w1m(ref, gen, 100, 2)[0]) and np.isfinite(w1p(ref, gen, 100, 2)[0]).all()


def test_flow_conditioned_on_mass_draws_mass_from_training_jets(tmp_path):
    from hepgen.training import train
    from hepgen.training.run import load_run_model

    jets = toy_jets(60, 12, seed=4)
    cfg = {"params": TINY["jet-flow"], "training": {"batch_size": 30, "num_threads": 1}, "labels": ["mass"]}
    model, kind, _ = load_run_model(train("jet-flow", jets, tmp_path / "run", cfg, max_epochs=1))
    assert kind.n_cond == 2
    cond = model.sample_conditions(400, seed=0)
    train_cond = kind.encode(jets)["cond"]
    n = np.rint(cond[:, 0] * 12).astype(int)
    for k in np.unique(n)[:5]:   # the mass comes from a training jet with the same multiplicity
        allowed = train_cond[np.rint(train_cond[:, 0] * 12).astype(int) == k, 1]
        if len(allowed):
            assert np.isin(cond[n == k, 1], allowed).all()


def test_midpoint_solver_on_linear_field():
    """dx/dt = -x from t = 0 to 1: x(1) = x0 / e; the midpoint method has error O(h^2)."""
    from hepgen.models.mdma_flow import MDMAFlow

    errors = []
    for steps in (4, 8):
        m = MDMAFlow((5, 4), 1, {**MDMAFlow.default_config, **TINY["mdma-flow"], "steps": steps})
        m.field.forward = lambda x, t, mask, cond: -x
        x1 = m.sample(torch.ones(2, 1), torch.Generator().manual_seed(0))[..., :3]
        x0 = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
        # one bucket: noise drawn in the same order, so x1 = x0 (1 - h + h^2/2)^steps
        h = 1.0 / steps
        torch.testing.assert_close(x1, x0 * (1 - h + h * h / 2) ** steps)
        errors.append(float((x1 - x0 / math.e).abs().max() / x0.abs().max()))
    assert errors[1] < errors[0] / 3.5       # second order


def test_ot_pairing_lowers_transport_cost():
    from hepgen.models.objectives import ot_coupling

    g = torch.Generator().manual_seed(0)
    x1, x0 = torch.randn(16, 6, 3, generator=g), torch.randn(16, 6, 3, generator=g)
    mask = torch.rand(16, 6, generator=g) > 0.3
    j = ot_coupling(x0, x1, mask)
    assert sorted(j.tolist()) == list(range(16))          # a permutation

    def cost(a):
        return float((((a - x1) ** 2).sum(-1) * mask).sum())

    assert cost(x0[j]) < cost(x0)
    for _ in range(20):                                     # no random permutation does better
        assert cost(x0[j]) <= cost(x0[torch.randperm(16, generator=g)]) + 1e-4


def test_parameter_counts_next_to_the_thesis():
    from hepgen.models.epic_gan import EPiCGAN
    from hepgen.models.jet_flow import JetFlow
    from hepgen.models.mdma_flow import MDMAFlow
    from hepgen.models.tgan import TGAN

    assert 2.8e6 < MDMAFlow((150, 4), 1, MDMAFlow.default_config).n_parameters() < 3.5e6       # 3,119,491
    assert 3.5e5 < EPiCGAN((150, 4), 1, EPiCGAN.default_config).n_parameters() < 6e5          # 424,850
    tgan = TGAN((30, 4), 1, TGAN.default_config)
    assert 7e4 < sum(p.numel() for p in tgan.parameters()) < 9e4                              # 80 k
    assert 5e6 < JetFlow((30, 4), 1, JetFlow.default_config).n_parameters() < 8e6             # 6.9 M
