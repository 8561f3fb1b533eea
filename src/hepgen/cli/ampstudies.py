"""``hepgen gan-toys`` and ``hepgen calomplification``: the amplification studies of
Butter et al., arXiv:2008.06545 (GANplification) and Bieringer et al., arXiv:2202.07352 (Calomplification)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def gan_toys(
    toy: str = typer.Option("camel", help="Toy: camel (1D), ring (2D) or sphere (5D)."),
    output: Path = typer.Option(..., "--output", "-o", help="JSON file with amplification vs number of quantiles."),
    workdir: Path = typer.Option(Path("gan_toys_runs"), help="Folder for the training runs (resumable)."),
    n_per_dim: str = typer.Option("10,20,50", help="Quantiles per coordinate, comma separated."),
    repeats: int = typer.Option(3, help="Independent training sets (the paper used 100)."),
    epochs: int = typer.Option(30, help="Loop epochs of about 100 optimiser steps each; the lr falls x10 over them."),
    max_time: Optional[str] = typer.Option(None, help="Time budget per training, e.g. 2m."),
    n_samples: int = typer.Option(200_000, help="Points sampled from each GAN."),
    seed: int = typer.Option(0, help="Random seed."),
    overwrite: bool = typer.Option(False, help="Replace an existing output."),
) -> None:
    """Train the GANplification GAN (dropout on at sampling) on toy training sets and measure its
    amplification N_equiv / N_train from the quantile MSE against analytic quantiles (arXiv:2008.06545).
    Per-coordinate and combined product cells are reported."""
    import json

    from hepgen.amplify.gan_toys import gan_toy_study
    from hepgen.amplify.toys import get_toy
    from hepgen.data import atomic_path, check_writable

    check_writable(output, overwrite)
    t = get_toy(toy)
    dims = len(t.coordinate_names)
    coords = [(i,) for i in range(dims)] + ([tuple(range(dims))] if dims > 1 else [])
    result = gan_toy_study(toy, [int(k) for k in n_per_dim.split(",")], workdir, repeats=repeats,
                           n_samples=n_samples, coordinates=coords, max_epochs=epochs, max_time=max_time, seed=seed)
    with atomic_path(output, overwrite) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    for key, rows in result["results"].items():
        typer.echo(f"{key}: " + ", ".join(f"{e['n_quant']} quantiles -> {e['factor_from_mean_mse']:.3g}"
                                         for e in rows["gan"]))


def calomplification(
    output: Path = typer.Option(..., "--output", "-o", help="Output folder for amplify.json, amplify.md, plots."),
    workdir: Path = typer.Option(Path("calomplification"), help="Folder for simulated images and the VAE-GAN run."),
    n_train: int = typer.Option(1000, help="Training showers (50 GeV photons, ild-ecal, GFlash)."),
    n_reference: int = typer.Option(20000, help="Reference showers: pool for subsets + truth set."),
    n_pool: int = typer.Option(5000, help="Reference showers kept for the subsets; the rest defines the quantiles."),
    sizes: str = typer.Option("1000,2000,5000", help="Reference subset sizes."),
    train_time: str = typer.Option("10m", help="VAE-GAN training time of this call (resumes a run in --workdir)."),
    select_every: int = typer.Option(10, help="Epoch selection: score E_vis, E_peak, n_active of generated vs "
                                              "training images every N epochs, generate from the best (0: last)."),
    lr: float = typer.Option(2e-4, help="Learning rate (the paper used 8e-6 over 50k epochs)."),
    mbd_total: bool = typer.Option(True, help="hepgen addition: minibatch discrimination also sees log E_vis "
                                              "(--no-mbd-total: the paper's discriminator)."),
    evis_mmd: float = typer.Option(5.0, help="hepgen addition: weight of a log E_vis MMD between generated and "
                                             "training batches in the generator loss (0: the paper's loss)."),
    seed: int = typer.Option(0, help="Training seed."),
    n_generated: int = typer.Option(100_000, help="Generated images."),
    hist_splits: int = typer.Option(100, help="Cross-validation splits of the histogram baseline."),
    overwrite: bool = typer.Option(False, help="Replace existing outputs."),
) -> None:
    """Calomplification (arXiv:2202.07352): simulate 50 GeV photons, pool to 10x10 images, train the
    VAE-GAN on the training showers, generate, and measure D_JS vs number of quantiles, equivalent
    sizes and amplification for E_vis, E_peak, E_pixel, CG_x, CG_y and joints, with KDE and histogram
    baselines."""
    from hepgen.amplify.calomplification import run_calomplification
    from hepgen.amplify.study import study_markdown

    result = run_calomplification(workdir, output, n_train=n_train, n_reference=n_reference, n_pool=n_pool,
                                  sizes=[int(s) for s in sizes.split(",")], train_time=train_time, lr=lr,
                                  select_every=select_every, n_generated=n_generated, hist_splits=hist_splits,
                                  overwrite=overwrite, seed=seed, mbd_total=mbd_total, evis_mmd=evis_mmd)
    typer.echo(study_markdown(result))
