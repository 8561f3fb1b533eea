"""``hepgen beta-vae-study``: posterior collapse of a conditional β-VAE on 5x5 crystal-array showers."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def beta_vae_study(
    data: Path = typer.Argument(..., help="belle2-ecl-5x5 shower file (hepgen simulate --preset "
                                "belle2-ecl-5x5-train)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for beta_vae.json/.md and the figures."),
    betas: str = typer.Option("1,3e-5", "--betas", help="Comma-separated KL weights β (the thesis: 1 and 3e-5)."),
    epochs: int = typer.Option(20, "--epochs", help="Epochs per β."),
    batch_size: int = typer.Option(250, "--batch-size", help="Minibatch size."),
    lr: float = typer.Option(1e-4, "--lr", help="Adam learning rate (the thesis's 1e-4)."),
    latent_dim: int = typer.Option(10, "--latent-dim", help="Latent dimensions (the thesis's 10)."),
    width: float = typer.Option(1.0, "--width", help="Channel-count factor (1 = the thesis's networks)."),
    n_eval: int = typer.Option(1000, "--n-eval", help="Held-out showers for I_q, active latents, KL per latent."),
    max_showers: int = typer.Option(0, "--max-showers", help="Use only the first N showers (0: all)."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, ..."),
) -> None:
    """Train one conditional β-VAE per β and record per epoch the KL, the mutual information I_q (He et al.,
    arXiv:1901.05534) and the number of active latents, as in J. Irakkathil Jabbar, PhD thesis, KIT (2022),
    §4.1-4.2 (collapse at β = 1, informative latents at β = 3e-5). Writes beta_vae.json, beta_vae.md and the
    figures kl_iq_per_epoch.png, kl_per_latent.png, latent_means.png.

    Example: hepgen beta-vae-study train.h5 -o beta_vae/ --epochs 10
    """
    from hepgen.data import read_showers
    from hepgen.errors import InputError
    from hepgen.progress import ProgressBar
    from hepgen.studies.beta_vae import beta_vae_study as study, write_study

    try:
        values = [float(b) for b in betas.split(",") if b.strip()]
    except ValueError:
        raise InputError(f"--betas '{betas}': expected comma-separated numbers, e.g. 1,3e-5") from None
    if not values or min(values) < 0 or epochs < 1:
        raise InputError("--betas must be >= 0 and --epochs >= 1")
    showers = read_showers(data, stop=max_showers or None)
    with ProgressBar(total=len(values) * epochs, description="beta-VAE study") as bar:
        result = study(showers, values, epochs, batch_size, lr, latent_dim, width, n_eval, seed, device,
                       progress=lambda b, e: bar.advance(1))
    write_study(result, output, command="hepgen " + " ".join(sys.argv[1:]))
    for beta, run in result["runs"].items():
        typer.echo(f"beta = {beta}: KL {run['kl'][-1]:.4g} nats, I_q {run['iq'][-1]:.3f} nats, "
                   f"active latents {run['active_units'][-1]} of {latent_dim}, informative (KL > 0.1 nats) "
                   f"{run['informative_latents'][-1]}")
    typer.echo(f"wrote {output}")
