"""``hepgen testbeam-study``: the test-beam study of Diefenbacher's thesis (Ch. 8) on stand-in measured data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer


def calice_testbeam_study(
    output: Path = typer.Option(..., "--output", "-o", help="Study folder: data/, run/, generated.h5, "
                                "testbeam_study.json/.md/.png and the figures. Rerun to resume."),
    energies: str = typer.Option("40,80,160", "--energies", help="Beam energies in GeV (comma-separated)."),
    n_train: int = typer.Option(250, "--n-train", help="Training showers per energy (thesis: 50k; 250 x 3 energies "
                                "x 6 epochs of testbeam-small take about 15 minutes on one CPU thread)."),
    n_test: int = typer.Option(1000, "--n-test", help="Showers per energy of the data, both tunes and the "
                               "BIB-AE (thesis: 7.5k)."),
    config: str = typer.Option("testbeam-small", "--config", "-c", help="BIB-AE preset (testbeam-small, "
                               "testbeam) or a YAML config."),
    max_time: Optional[str] = typer.Option("15m", "--max-time", help="Training budget over all resumes, e.g. 15m."),
    max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="Epochs (default: the preset's)."),
    noise_mip: float = typer.Option(0.06, "--noise-mip", help="Gaussian electronic noise per cell (MIP) before "
                                    "the readout threshold."),
    dead_fraction: float = typer.Option(0.005, "--dead-fraction", help="Fraction of dead cells (a fixed map)."),
    timing_repeats: int = typer.Option(10, "--timing-repeats", help="Repetitions of the timing (Table 8.1: 10)."),
    timing_showers: int = typer.Option(100, "--timing-showers", help="Showers per timed call."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing result files (json/md/png)."),
) -> None:
    """Stand-in CALICE AHCAL test-beam data (hadronic-a + noise + dead cells, imported as a ROOT hit tree), a
    BIB-AE with visible-energy conditioning trained on it, and the comparison of BIB-AE, data and both tunes at
    40/80/160 GeV with the pion evaluation (0.5 MIP cut), plus the time per shower on one thread. See
    docs/testbeam_study.md.

    Example: hepgen testbeam-study -o testbeam/ --max-time 15m
    """
    import torch

    from hepgen.data.atomic import check_writable, write_study_outputs
    from hepgen.errors import InputError
    from hepgen.progress import status
    from hepgen.simulate.detector_effects import DetectorEffects
    from hepgen.studies.testbeam import (OUTPUT_FILES, StudySettings, main_figure, run_testbeam_study,
                                         to_markdown, write_figures)

    try:
        values = [float(e) for e in energies.split(",") if e.strip()]
    except ValueError:
        raise InputError(f"--energies '{energies}': expected comma-separated GeV values, e.g. 40,80,160") from None
    if not values or min(values) <= 0 or n_train < 10 or n_test < 10:
        raise InputError("--energies must be > 0 GeV, --n-train and --n-test at least 10 showers per energy")
    for name in OUTPUT_FILES:
        check_writable(output / name, overwrite)
    torch.set_num_threads(1)
    settings = StudySettings(values, n_train, n_test, config, max_time, max_epochs, seed, timing_repeats,
                             timing_showers, DetectorEffects(noise_mip=noise_mip, dead_fraction=dead_fraction))
    result = run_testbeam_study(output, settings, progress=status)
    result["command"] = "hepgen " + " ".join(sys.argv[1:])
    write_study_outputs(output, "testbeam_study", result, to_markdown(result), main_figure, overwrite)
    write_figures(result, output, overwrite)
    typer.echo(to_markdown(result))
    typer.echo(f"wrote {output}")
