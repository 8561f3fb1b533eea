"""Morphing beyond the transport (B. Käch, PhD thesis (2024), Sec. 7.1-7.2): the focal loss, the φ = π/8
classifier study, the Asimov discovery significance and the analysis-level morphing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from hepgen.models.objectives import focal_loss

torch.set_num_threads(1)


def test_focal_loss_matches_its_formula_and_reduces_to_half_the_bce_at_gamma_zero():
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0])
    target = torch.tensor([1.0, 1.0, 0.0, 0.0])
    p = torch.sigmoid(logits)
    p_t = torch.where(target == 1, p, 1 - p)
    by_hand = (-0.5 * (1 - p_t) ** 1.5 * torch.log(p_t)).mean()
    torch.testing.assert_close(focal_loss(logits, target, gamma=1.5), by_hand)
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0),
                               0.5 * F.binary_cross_entropy_with_logits(logits, target))
    # well-classified examples are down-weighted: the loss ratio to BCE falls as p_t -> 1
    easy, hard = torch.tensor([4.0]), torch.tensor([-1.0])
    one = torch.ones(1)
    assert float(focal_loss(easy, one) / focal_loss(easy, one, gamma=0)) < 0.01
    assert float(focal_loss(hard, one) / focal_loss(hard, one, gamma=0)) > 0.5
    w = torch.tensor([1.0, 0.0, 0.0, 0.0])                      # weights select the first example
    torch.testing.assert_close(focal_loss(logits, target, weight=w), focal_loss(logits[:1], target[:1]))


def test_interpolation_classifier_sees_the_pi_over_8_signal_that_the_baseline_misses():
    """Thesis Sec. 7.1 (Figs. 7.5-7.6): trained on the end points φ = 0, π/2 the classifier does not recognise the
    φ = π/8 signal; trained on OT-CFM states along the ODE time it classifies most of it with ŷ > 0.5."""
    from hepgen.studies.morphing import classifier_study

    r = classifier_study(cfm_steps=300, classifier_steps=300, n_train=4000, n_test=4000, n_time_steps=50, seed=1)
    base, interp, scan = (r["rows"][k] for k in ("baseline", "interpolation", "truth-scan"))
    assert base["auc"] < 0.6 and base["signal_above_half"] < 0.5, base
    assert interp["signal_above_half"] > 0.8 and interp["auc"] > base["auc"] + 0.15, interp
    assert abs(interp["auc"] - scan["auc"]) < 0.08, (interp, scan)
    assert r["fd_quarter_vs_pi_8"] < 0.1                          # the morph at t = 1/4 is near Σ(π/8)


# -- the discovery significance (thesis Sec. 7.2.4, Eqs. 7.10-7.19) --------------------------------------------

def test_asimov_significance_against_hand_computed_values():
    from hepgen.evaluate.significance import asimov_significance, conditional_background_scale

    # exact background: the one-bin Asimov formula of Cowan et al. (arXiv:1007.1727, Eq. 97)
    assert asimov_significance([10.0], [100.0], 0.0) == pytest.approx(math.sqrt(2 * (110 * math.log(1.1) - 10)))
    assert asimov_significance([10.0], [100.0], 0.0) == pytest.approx(0.98399, abs=1e-5)
    # one bin, σ_B = 10: k = B²/σ² = 100, 100 τ² − 110 = 0 -> τ = sqrt(1.1);
    # q0 = −2 [110 log(100 τ / 110) − 100 τ + 110 − (τ − 1)² 100² / 200] = 0.48412 -> Z = 0.69579
    assert conditional_background_scale(110.0, 100.0, 10.0) == pytest.approx(math.sqrt(1.1))
    assert asimov_significance([10.0], [100.0], 10.0) == pytest.approx(0.69579, abs=1e-5)
    # two bins, free normalisation: τ = N / B = 25 / 20 (Eq. 7.17);
    # q0 = −2 [11 log(12.5 / 11) + 14 log(12.5 / 14)] = 0.36087 -> Z = 0.60072: only the shape separates
    assert asimov_significance([1.0, 4.0], [10.0, 10.0], math.inf) == pytest.approx(0.60072, abs=1e-5)
    assert asimov_significance([10.0], [100.0], math.inf) == pytest.approx(0.0, abs=1e-6)
    # a tighter constraint and more signal both raise Z
    z = [asimov_significance([1.0, 4.0], [10.0, 10.0], sb) for sb in (math.inf, 5.0, 1.0, 0.0)]
    assert z == sorted(z)
    with pytest.raises(ValueError, match="equal-length"):
        asimov_significance([1.0], [1.0, 2.0], 0.0)


def test_luminosity_for_z3_and_the_three_bins():
    from hepgen.evaluate.significance import (asimov_significance, binned_yields, luminosity_for_significance,
                                              three_bin_edges)

    # exact background: Z grows as sqrt(α), so Z = 3 needs (3 / Z1)² the luminosity
    z1 = asimov_significance([10.0], [100.0], 0.0)
    assert luminosity_for_significance([10.0], [100.0], 0.0, luminosity=2.0) == pytest.approx(2 * (3 / z1) ** 2)
    lumi = luminosity_for_significance([1.0, 4.0], [10.0, 10.0], 2.0, target=3.0)
    assert asimov_significance([lumi * 1.0, lumi * 4.0], [lumi * 10, lumi * 10], 2.0 * math.sqrt(lumi)) == \
        pytest.approx(3.0, rel=1e-6)
    assert luminosity_for_significance([1.0], [10.0], math.inf) == math.inf        # one free bin never discovers
    # top bin widened until sqrt(Σw²)/Σw < 0.3: 12 unit-weight events -> it must reach down to the 12th score
    rng = np.random.default_rng(0)
    scores = np.sort(rng.uniform(0.9, 1.0, 40))[::-1]
    edges = three_bin_edges(scores, np.ones(40))
    assert edges[2] == scores[11] and edges[1] == pytest.approx((0.9 + scores[11]) / 2)
    yields, err = binned_yields(scores, np.full(40, 0.5), edges)
    assert yields[2] == pytest.approx(6.0) and yields.sum() == pytest.approx(20.0) and err == pytest.approx(
        math.sqrt(40 * 0.25))
