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
