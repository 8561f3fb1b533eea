"""``hepgen amplify``: is a generated shower sample worth more than its training sample?"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def amplify(
    train: List[Path] = typer.Option(..., "--train",
                                     help="Training showers of the model (repeat for several training sets)."),
    generated: List[Path] = typer.Option(..., "--generated", help="Generated showers (repeat for independent "
                                         "trainings: gives the error bands)."),
    reference: Path = typer.Option(..., "--reference", help="A large reference (e.g. GEANT4) sample, disjoint from "
                                   "the training data: split into a truth set (defines the quantiles) and a pool "
                                   "for subsets."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder for amplify.json, amplify.md and plots."),
    observable: List[str] = typer.Option(["E_vis", "E_peak", "E_pixel", "CG_x", "CG_y"], "--observable",
                                         help="Observable or joint (E_vis+E_peak) to study; repeat. Names: E_vis, "
                                         "E_peak, E_pixel, CG_x, CG_y, n_active."),
    sizes: str = typer.Option("1000,5000,10000,50000", help="Reference subset sizes (showers), comma separated."),
    pool_size: Optional[int] = typer.Option(None, help="Reference showers kept for subsets (default: the largest "
                                            "size, at most half the file); the rest is the truth set."),
    replicates: int = typer.Option(5, help="Reference subsets per size (mean ± std)."),
    max_n_quant: Optional[int] = typer.Option(None, help="Largest number of quantiles (default: half the truth set)."),
    baselines: str = typer.Option("kde,hist",
                                  help="Classical baselines fitted to the (first) training set: kde, hist, or ''."),
    baseline_samples: int = typer.Option(1_000_000, help="Points sampled from each baseline."),
    hist_splits: int = typer.Option(500, help="Cross-validation splits of the histogram estimator."),
    pool: int = typer.Option(3, help="Pixels pooled per side after summing over depth (ILD ECAL 30x30 -> 10x10)."),
    threshold: float = typer.Option(0.1, help="Pixel threshold in MeV (half a MIP)."),
    pixel_threshold: float = typer.Option(5.0, help="Threshold in MeV for E_pixel entries."),
    geometry: Optional[str] = typer.Option(None, "--geometry", "-g", help="Geometry when the files do not say."),
    max_generated: Optional[int] = typer.Option(None, help="Use at most this many generated showers per file."),
    plots: bool = typer.Option(True, help="Write PNG plots."),
    seed: int = typer.Option(0, help="Random seed for subsets and baselines."),
    overwrite: bool = typer.Option(False, help="Replace existing outputs."),
) -> None:
    """Quantile Jensen–Shannon curves, equivalent sample size and amplification factor (arXiv:2202.07352).

    Observables are computed on images summed over depth and pooled; the quantiles are built on the
    truth part of --reference by recursive median splitting; the generated sample is compared with
    reference subsets of --sizes and with the multinomial expectation; amplification = N_equiv / N_train.
    """
    from hepgen.amplify.study import amplify_files, study_markdown, write_study
    from hepgen.data import check_writable

    for f in ("amplify.json", "amplify.md"):
        check_writable(output / f, overwrite)
    result = amplify_files(train, generated, reference, observable,
                           [int(float(s)) for s in sizes.split(",") if s.strip()],
                           pool_size, replicates, max_n_quant, [b for b in baselines.split(",") if b.strip()],
                           baseline_samples, hist_splits, pool, threshold, pixel_threshold, geometry, max_generated,
                           seed)
    written = write_study(result, output, overwrite=overwrite, plots=plots)
    typer.echo(study_markdown(result))
    typer.echo(f"wrote {', '.join(str(p) for p in written)}")
