"""The β-VAE posterior-collapse study (Irakkathil Jabbar, PhD thesis, KIT 2022, §4.1-4.2) on a small GFlash
sample: collapse at β = 1 (I_q ~ 0, no active latent), information kept at β = 3e-5 (>= 2 active latents)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hepgen.errors import InputError
from hepgen.simulate import simulate_showers
from hepgen.studies.beta_vae import beta_vae_study, write_study
from hepgen.units import parse_energy

torch.set_num_threads(1)


def test_collapse_at_beta_one_and_not_at_small_beta(tmp_path):
    e = parse_energy("discrete:0.5GeV,1GeV,1.5GeV,2.5GeV").sample(800, seed=1)
    s = simulate_showers("belle2-ecl-5x5", e, "electron", seed=6, impact="crystal")
    r = beta_vae_study(s, betas=[1.0, 3e-5], epochs=12, batch_size=25, lr=1e-3, width=0.125, n_eval=200, seed=0)
    collapsed, informative = r["runs"]["1"], r["runs"]["3e-05"]
    # collapse: KL and I_q -> 0 (< 0.1 nats), no latent with KL > 0.1 nats; small beta: >= 2 such latents
    assert collapsed["kl"][-1] < 0.1 and collapsed["iq"][-1] < 0.1 and collapsed["informative_latents"][-1] == 0
    assert collapsed["kl"][-1] < collapsed["kl"][0] / 3                               # it falls over the epochs
    assert informative["informative_latents"][-1] >= 2 and informative["active_units"][-1] >= 2
    assert informative["iq"][-1] > 0.3 and informative["iq"][-1] > 5 * collapsed["iq"][-1]
    files = write_study(r, tmp_path / "study")
    assert {p.name for p in files} >= {"kl_iq_per_epoch.png", "kl_per_latent.png", "latent_means.png", "beta_vae.json"}
    saved = json.loads((tmp_path / "study" / "beta_vae.json").read_text())
    assert "mu" not in saved["runs"]["1"] and len(saved["runs"]["1"]["iq"]) == 12
    with pytest.raises(InputError, match="5x5 networks"):
        beta_vae_study(simulate_showers("belle2-ecl-10x10", np.full(8, 1e3), seed=0), epochs=1)
