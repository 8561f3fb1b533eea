"""β-VAE posterior-collapse study on crystal-array showers.

J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter Responses using Deep Learning", PhD thesis,
KIT (2022), §4.1–4.2: a conditional β-VAE (loss = per-pixel MSE + β·KL, Higgins et al., ICLR 2017) on 5×5
electron showers collapses at β = 1 (the KL and the mutual information I_q between showers and latents go to 0,
no latent carries information) and keeps information in a few of its 10 latents at β = 3×10⁻⁵. I_q is the
estimator of He et al., "Lagging Inference Networks and Posterior Collapse in Variational Autoencoders",
arXiv:1901.05534 (:func:`hepgen.models.objectives.mutual_information`); active latents are those whose encoder
mean varies over the sample by more than 0.01 (:func:`hepgen.models.objectives.active_units`).

Networks: the thesis's 5×5 encoder (Table A.28: convolutions 3×3 256 SAME, 3×3 128 SAME, 3×3 64 VALID,
2×2 32 VALID, layer norm, LeakyReLU; the labels E, P_x, P_y concatenated before a dense layer to 2 × 10) and
decoder (Table A.27: labels and z to 144 units, 16×3×3, transposed conv 5×5 stride 2 to 64, conv 3×3 128,
conv 3×3 1 with ReLU); ``width`` scales every channel count (1 = the thesis's). Pixels in GeV (the thesis's
units), labels standardised; Adam (0.9, 0.999) (thesis §6.2).

>>> import numpy as np
>>> from hepgen.data import ShowerData
>>> rng = np.random.default_rng(0)
>>> e = rng.uniform(500, 2500, 64)
>>> s = ShowerData(e, rng.random((64, 25)) * e[:, None] / 25, "belle2-ecl-5x5")
>>> r = beta_vae_study(s, betas=[1.0], epochs=1, batch_size=32, width=0.05, n_eval=32)
>>> sorted(r["runs"]["1"])
['active_units', 'informative_latents', 'iq', 'kl', 'kl_per_latent', 'mu', 'recon']
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from hepgen.data import ShowerData
from hepgen.errors import InputError
from hepgen.models.objectives import active_units, kl_divergence, mutual_information, optimizer_step
from hepgen.models.layers import standard_normal

__all__ = ["ConditionalBetaVAE", "beta_vae_study", "write_study", "study_labels"]


def _ch(c: int, width: float) -> int:
    return max(2, int(round(c * width)))


class ConditionalBetaVAE(nn.Module):
    """The thesis's 5×5 β-VAE (module docstring); ``forward(x, labels)`` returns (reconstruction, mu, logvar)."""

    def __init__(self, n_labels: int = 3, latent_dim: int = 10, width: float = 1.0, slope: float = 0.2) -> None:
        super().__init__()
        c = [_ch(v, width) for v in (256, 128, 64, 32)]
        act = nn.LeakyReLU(slope)
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c[0], 3, padding=1), nn.LayerNorm([c[0], 5, 5]), act,
            nn.Conv2d(c[0], c[1], 3, padding=1), nn.LayerNorm([c[1], 5, 5]), act,
            nn.Conv2d(c[1], c[2], 3), nn.LayerNorm([c[2], 3, 3]), act,
            nn.Conv2d(c[2], c[3], 2), nn.LayerNorm([c[3], 2, 2]), act, nn.Flatten())
        self.to_latent = nn.Linear(c[3] * 4 + n_labels, 2 * latent_dim)
        d = [_ch(v, width) for v in (64, 128)]
        self.from_latent = nn.Sequential(nn.Linear(latent_dim + n_labels, 144), act)
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(16, d[0], 5, stride=2), nn.LayerNorm([d[0], 9, 9]), act,
            nn.Conv2d(d[0], d[1], 3), nn.LayerNorm([d[1], 7, 7]), act,
            nn.Conv2d(d[1], 1, 3), nn.ReLU())

    def encode(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.to_latent(torch.cat([self.encoder(x), labels], dim=1))
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_latent(torch.cat([z, labels], dim=1)).reshape(-1, 16, 3, 3))

    def forward(self, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None):
        mu, logvar = self.encode(x, labels)
        z = mu + standard_normal(mu.shape, mu.device, mu.dtype, generator) * (0.5 * logvar).exp()
        return self.decode(z, labels), mu, logvar


def study_labels(showers: ShowerData) -> np.ndarray:
    """(N, L) conditioning labels of the study: E (GeV) and, when stored, the impact point (mm)."""
    cols = [showers.incident_energy / 1e3]
    cols += [showers.labels[k] for k in ("impact_x_mm", "impact_y_mm") if k in showers.labels]
    return np.column_stack(cols).astype(np.float64)


def beta_vae_study(showers: ShowerData, betas: Sequence[float] = (1.0, 3e-5), epochs: int = 20,
                   batch_size: int = 250, lr: float = 1e-4, latent_dim: int = 10, width: float = 1.0,
                   n_eval: int = 1000, seed: int = 0, device: str | torch.device = "cpu", progress=None,
                   informative_kl: float = 0.1) -> dict:
    """Train one β-VAE per β on ``showers`` (5×5) and record per epoch the mean KL of the training batches,
    the reconstruction MSE (GeV² per pixel), and on ``n_eval`` held-out showers I_q (nats), the number of active
    latents (encoder-mean variance > 0.01), the KL per latent (eq. 6.5 of the thesis) and the number of
    informative latents (KL per latent > ``informative_kl`` nats, the thesis's §6.2 reading of its per-latent KL
    plots); the held-out encoder means of the last epoch are kept for latent histograms. ``progress`` is called
    after every epoch with (β, epoch)."""
    if showers.geometry.shape is None or tuple(showers.geometry.shape)[-2:] != (5, 5):
        raise InputError(f"the beta-VAE study uses the thesis's 5x5 networks; got '{showers.geometry.name}'")
    if len(showers) < 8:
        raise InputError(f"the beta-VAE study needs at least 8 showers (training and held-out), got {len(showers)}")
    n_eval = min(n_eval, len(showers) // 4)
    x_all = torch.as_tensor(showers.energy / 1e3, dtype=torch.float32).reshape(-1, 1, 5, 5)
    lab = study_labels(showers)
    lab = (lab - lab.mean(0)) / np.where(lab.std(0) > 0, lab.std(0), 1.0)
    lab_all = torch.as_tensor(lab, dtype=torch.float32)
    order = np.random.default_rng(seed).permutation(len(showers))
    ev, tr = torch.as_tensor(order[:n_eval]), torch.as_tensor(order[n_eval:])
    x_ev, l_ev = x_all[ev].to(device), lab_all[ev].to(device)
    result: dict = {"betas": [float(b) for b in betas], "epochs": epochs, "batch_size": batch_size, "lr": lr,
                    "latent_dim": latent_dim, "width": width, "n_train": len(tr), "n_eval": n_eval, "seed": seed,
                    "geometry": showers.geometry.name, "runs": {}}
    for beta in betas:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        vae = ConditionalBetaVAE(lab.shape[1], latent_dim, width).to(device)
        opt = torch.optim.Adam(vae.parameters(), lr=lr, betas=(0.9, 0.999))
        run: dict = {"kl": [], "recon": [], "iq": [], "active_units": [], "informative_latents": [],
                     "kl_per_latent": []}
        for epoch in range(epochs):
            vae.train()
            perm = tr[torch.randperm(len(tr), generator=gen)]
            kls, recs = [], []
            for start in range(0, len(perm), batch_size):
                idx = perm[start:start + batch_size]
                x, lb = x_all[idx].to(device), lab_all[idx].to(device)
                rec, mu, logvar = vae(x, lb, gen)
                recon = torch.mean((rec - x) ** 2)
                kl = kl_divergence(mu, logvar)
                optimizer_step(recon + beta * kl, opt)
                kls.append(float(kl.detach())), recs.append(float(recon.detach()))
            vae.eval()
            with torch.no_grad():
                mu, logvar = vae.encode(x_ev, l_ev)
                iq = float(mutual_information(mu, logvar, gen))
                per_latent = (-0.5 * (1 + logvar - mu ** 2 - logvar.exp())).mean(0)
            run["kl"].append(float(np.mean(kls)))
            run["recon"].append(float(np.mean(recs)))
            run["iq"].append(iq)
            run["active_units"].append(int(active_units(mu)))
            run["informative_latents"].append(int((per_latent > informative_kl).sum()))
            run["kl_per_latent"].append(per_latent.cpu().tolist())
            if progress is not None:
                progress(beta, epoch)
        run["mu"] = mu.cpu().numpy().tolist()
        result["runs"][f"{beta:g}"] = run
    return result


def write_study(result: dict, output: str | Path, command: str = "") -> list[Path]:
    """``beta_vae.json`` (without the encoder means), ``beta_vae.md`` and the figures: KL and I_q per epoch,
    KL per latent (last epoch), histograms of the encoder means per latent against N(0, 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hepgen.data.atomic import atomic_path

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    runs = result["runs"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for beta, run in runs.items():
        ep = np.arange(1, len(run["kl"]) + 1)
        axes[0].plot(ep, np.maximum(run["kl"], 1e-6), marker="o", label=f"β = {beta}")
        axes[1].plot(ep, run["iq"], marker="o", label=f"β = {beta}")
    axes[0].set(yscale="log", xlabel="epoch", ylabel="KL (nats, sum over latents)", title="KL divergence")
    axes[1].set(xlabel="epoch", ylabel="I_q (nats)", title="mutual information I_q (He et al.)")
    for a in axes:
        a.legend()
    fig.tight_layout()
    figures = {"kl_iq_per_epoch.png": fig}
    fig, ax = plt.subplots(figsize=(6, 4))
    w = 0.8 / max(1, len(runs))
    for k, (beta, run) in enumerate(runs.items()):
        kl = np.asarray(run["kl_per_latent"][-1])
        ax.bar(np.arange(1, len(kl) + 1) + k * w, kl, width=w, label=f"β = {beta}")
    ax.set(yscale="log", xlabel="latent", ylabel="KL per latent (nats)", title="last epoch, held-out showers")
    ax.legend()
    fig.tight_layout()
    figures["kl_per_latent.png"] = fig
    d = result["latent_dim"]
    fig, axes = plt.subplots(len(runs), d, figsize=(1.6 * d, 1.8 * len(runs)), squeeze=False)
    grid = np.linspace(-4, 4, 200)
    for r, (beta, run) in enumerate(runs.items()):
        mu = np.asarray(run["mu"])
        for j in range(d):
            ax = axes[r, j]
            ax.hist(mu[:, j], bins=40, range=(-4, 4), density=True, color="grey")
            ax.plot(grid, np.exp(-grid ** 2 / 2) / np.sqrt(2 * np.pi), "k--", lw=0.8)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"β={beta} z{j + 1}", fontsize=7)
    fig.tight_layout()
    figures["latent_means.png"] = fig
    for name, f in figures.items():
        with atomic_path(out / name, overwrite=True) as tmp:
            f.savefig(tmp, format="png", dpi=110)
        plt.close(f)
        written.append(out / name)
    slim = {**result, "runs": {b: {k: v for k, v in r.items() if k != "mu"} for b, r in runs.items()},
            "command": command, "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    with atomic_path(out / "beta_vae.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(slim, indent=1))
    lines = ["| β | epoch | KL (nats) | recon MSE (GeV²/pixel) | I_q (nats) | active latents | informative latents |",
             "|---|---|---|---|---|---|---|"]
    for beta, run in runs.items():
        for e in range(len(run["kl"])):
            lines.append(f"| {beta} | {e + 1} | {run['kl'][e]:.4g} | {run['recon'][e]:.3g} | {run['iq'][e]:.3f} | "
                         f"{run['active_units'][e]} | {run['informative_latents'][e]} |")
    with atomic_path(out / "beta_vae.md", overwrite=True) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return written + [out / "beta_vae.json", out / "beta_vae.md"]
