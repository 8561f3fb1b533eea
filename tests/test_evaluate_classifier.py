"""The classifier test: AUC about 0.5 for two halves of one sample, about 1 for a planted defect."""

import numpy as np
import pytest

from hepgen.evaluate.classifier import classifier_test, low_level_inputs


def _sample(n, seed):
    rng = np.random.default_rng(seed)
    inc = 10 ** rng.uniform(3, 4, n)
    profile = np.exp(-np.hypot(*np.meshgrid(np.arange(5) - 2, np.arange(5) - 2)).ravel())
    e = rng.gamma(4.0, 0.25, (n, 25)) * profile * inc[:, None] / profile.sum()
    return inc, e


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_two_halves_of_one_sample_give_auc_one_half():
    inc, e = _sample(20_000, 0)
    x = low_level_inputs(e, inc)
    r = classifier_test(x[:10_000], x[10_000:], seed=0, n_hidden=64, n_epochs=8)
    assert r["auc"] == pytest.approx(0.5, abs=0.02)
    assert abs(r["jsd"]) < 0.02
    assert r["n_train"] == 12_000 and r["n_test"] == r["n_validation"] == 4_000 and 1 <= r["best_epoch"] <= 8


def test_dead_crystal_is_found():
    inc, e = _sample(4_000, 1)
    bad = e[2000:].copy()
    bad[:, 7] = 0.0                                   # a dead crystal next to the centre
    r = classifier_test(low_level_inputs(e[:2000], inc[:2000]), low_level_inputs(bad, inc[2000:]), seed=0,
                        n_hidden=64, n_epochs=20)
    assert r["auc"] > 0.98 and r["auc_uncalibrated"] > 0.99 and r["jsd"] > 0.7


def test_seed_makes_it_reproducible():
    inc, e = _sample(2_000, 2)
    x = low_level_inputs(e, inc)
    a = classifier_test(x[:1000], x[1000:], seed=3, n_hidden=16, n_epochs=2)
    b = classifier_test(x[:1000], x[1000:], seed=3, n_hidden=16, n_epochs=2)
    assert a["auc"] == b["auc"] and a["best_epoch"] == b["best_epoch"]
