"""``hepgen amplify``: is a generated shower sample worth more than its training sample?"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def _observables_of_file(path: Path, names: list[str], pool: int, threshold: float, pixel_threshold: float,
                         geometry: Optional[str], start: int = 0, stop: Optional[int] = None,
                         chunk_size: int = 10_000) -> dict:
    import numpy as np

    from hepgen.evaluate.observables import shower_observables
    from hepgen.data import ShowerFile
    from hepgen.data.validate import LENIENT
    from hepgen.progress import track, warn

    f = ShowerFile(path, geometry=geometry, policy=LENIENT)   # a generated file is judged, not refused
    stop = len(f) if stop is None else min(stop, len(f))
    parts: dict[str, list] = {n: [] for n in names}
    for s in track(range(start, stop, chunk_size), description=f"observables of {path.name}"):
        chunk = f.read(s, min(s + chunk_size, stop))
        obs = shower_observables(chunk.energy, chunk.incident_energy, chunk.geometry, threshold, pool=pool,
                                 names=names, pixel_threshold_mev=pixel_threshold)
        for n in names:
            parts[n].append(obs[n])
    for message in f.warnings:
        warn(message)
    return {n: np.concatenate(v) if v else np.zeros(0) for n, v in parts.items()}


def amplify(
    train: List[Path] = typer.Option(..., "--train", help="Training showers of the model (repeat for several training sets)."),
    generated: List[Path] = typer.Option(..., "--generated", help="Generated showers (repeat for independent trainings: gives the error bands)."),
    reference: Path = typer.Option(..., "--reference", help="A large reference (e.g. GEANT4) sample, disjoint from the training data: split into a truth set (defines the quantiles) and a pool for subsets."),
    output: Path = typer.Option(..., "--output", "-o", help="Output folder for amplify.json, amplify.md and plots."),
    observable: List[str] = typer.Option(["E_vis", "E_peak", "E_pixel", "CG_x", "CG_y"], "--observable",
                                         help="Observable or joint (E_vis+E_peak) to study; repeat. Names: E_vis, E_peak, E_pixel, CG_x, CG_y, n_active."),
    sizes: str = typer.Option("1000,5000,10000,50000", help="Reference subset sizes (showers), comma separated."),
    pool_size: Optional[int] = typer.Option(None, help="Reference showers kept for subsets (default: the largest size, at most half the file); the rest is the truth set."),
    replicates: int = typer.Option(5, help="Reference subsets per size (mean ± std)."),
    max_n_quant: Optional[int] = typer.Option(None, help="Largest number of quantiles (default: half the truth set)."),
    baselines: str = typer.Option("kde,hist", help="Classical baselines fitted to the (first) training set: kde, hist, or ''."),
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
    from hepgen.evaluate.observables import IMAGE_OBSERVABLES
    from hepgen.amplify.study import amplify_study, write_study
    from hepgen.data import ShowerFile, check_writable
    from hepgen.errors import InputError
    from hepgen.progress import status

    size_list = [int(float(s)) for s in sizes.split(",") if s.strip()]
    # n_active is always computed: it counts showers, which per-pixel observables need to size subsets
    names = sorted({n for o in observable for n in o.split("+")} | {"n_active"})
    for n in names:
        if n not in IMAGE_OBSERVABLES:
            raise InputError(f"unknown observable {n!r}: expected one of {', '.join(IMAGE_OBSERVABLES)}")
    for f in ("amplify.json", "amplify.md"):
        check_writable(output / f, overwrite)
    n_ref = len(ShowerFile(reference, geometry=geometry))
    n_pool = pool_size if pool_size is not None else min(max(size_list), n_ref // 2)
    if not 0 < n_pool < n_ref:
        raise InputError(f"reference has {n_ref} showers; cannot keep {n_pool} for subsets and the rest as truth",
                         file=str(reference))
    kept = [s for s in size_list if s <= n_pool]
    if len(kept) < len(size_list):
        status(f"reference pool has {n_pool} showers: dropping subset sizes {sorted(set(size_list) - set(kept))}")
    args = (names, pool, threshold, pixel_threshold, geometry)
    pool_obs = _observables_of_file(reference, *args, 0, n_pool)
    truth_obs = _observables_of_file(reference, *args, n_pool, None)
    trains = [_observables_of_file(p, *args) for p in train]
    gens = [_observables_of_file(p, *args, 0, max_generated) for p in generated]
    result = amplify_study(trains, gens, truth_obs, pool_obs, observable, kept, replicates,
                           max_n_quant=max_n_quant, baselines=[b for b in baselines.split(",") if b.strip()],
                           n_baseline_samples=baseline_samples, hist_splits=hist_splits, seed=seed)
    result["inputs"] = {"train": [str(p) for p in train], "generated": [str(p) for p in generated],
                        "reference": str(reference), "n_reference_pool": n_pool, "n_truth": n_ref - n_pool,
                        "pool": pool, "threshold_mev": threshold, "pixel_threshold_mev": pixel_threshold}
    written = write_study(result, output, overwrite=overwrite, plots=plots)
    from hepgen.amplify.study import study_markdown

    typer.echo(study_markdown(result))
    typer.echo(f"wrote {', '.join(str(p) for p in written)}")

