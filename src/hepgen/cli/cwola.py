"""``hepgen online-cwola``: the OnlineFlow anomaly search on Pythia di-jets (CWoLa on real vs flow-generated events;
Butter, Diefenbacher et al., "Ephemeral Learning – Augmenting Triggers with Online-Trained Normalizing Flows",
arXiv:2202.09375)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def online_cwola(
    output: Path = typer.Option(..., "--output", "-o", help="Folder for cwola.json, cwola.md, cwola.png."),
    events_folder: Optional[Path] = typer.Option(None, "--events-folder", help="Where the Pythia di-jet chunks "
                                                 "are cached (default OUTPUT/events; finished chunks are reused)."),
    background: int = typer.Option(60_000, help="QCD di-jets in the stream (thesis: 300k events in all)."),
    signal_fraction: float = typer.Option(0.01, help="Signal fraction of the stream (thesis 1 %)."),
    test_background: int = typer.Option(20_000, help="Held-out QCD events; their signal-region part is the test."),
    test_signal: int = typer.Option(4_000, help="Held-out W' -> X Y events (the test set is signal-enriched)."),
    n_iter: int = typer.Option(20, help="Passes of the flow over each buffer of 10,000 events (thesis 1000)."),
    transforms: int = typer.Option(6, help="MADE blocks of the flow (thesis 10 of 128 nodes)."),
    hidden: int = typer.Option(64, help="Nodes of each of the two layers per MADE block."),
    generated: int = typer.Option(300_000, help="Events the flow generates for CWoLa (thesis 562.5k)."),
    repetitions: int = typer.Option(3, help="Classifier seeds per row (mean and spread of the max SIC)."),
    epochs: int = typer.Option(40, help="Classifier epochs (the 10 lowest-validation-loss epochs are averaged)."),
    workers: int = typer.Option(1, help="Processes generating Pythia events."),
    seed: int = typer.Option(0, help="Seed of the stream order, the flow and the classifiers."),
    overwrite: bool = typer.Option(False, help="Replace existing outputs."),
) -> None:
    """Weakly supervised anomaly search on di-jets (thesis of S. Diefenbacher, Hamburg 2022, Sec. 9.3), on an
    analogue of the LHC Olympics R&D data made with Pythia 8 + FastJet here (QCD plus a 3.5 TeV W' -> X(500 GeV)
    Y(100 GeV) -> 4 quarks, anti-kT R = 1, leading jet pT > 1.2 TeV; features m_jj, m_1, m_1 - m_2, tau_21 of both
    jets). A MAF is trained online on the stream; CWoLa classifiers (signal region 3.3-3.7 TeV vs side bands) are
    trained on the real stream at data fractions 1, 1/2, 1/5, 1/10, 1/20 (prescales) and on flow-generated events,
    and judged by the max significance improvement eps_S/sqrt(eps_B) on held-out signal-region events."""
    from hepgen.data import check_writable
    from hepgen.data.atomic import write_study_outputs
    from hepgen.studies.cwola import CWoLaSettings, StudySettings, run_study, study_figure, study_markdown

    output = Path(output)
    targets = [output / f"cwola.{ext}" for ext in ("json", "md", "png")]
    for target in targets:
        check_writable(target, overwrite)
    settings = StudySettings(n_background=background, signal_fraction=signal_fraction,
                             n_test_background=test_background, n_test_signal=test_signal, n_iter=n_iter,
                             transforms=transforms, hidden=[hidden, hidden], n_generated=generated,
                             repetitions=repetitions, classifier=CWoLaSettings(epochs=epochs), seed=seed)
    settings.check()
    import torch

    torch.set_num_threads(1)
    result = run_study(settings, events_folder or output / "events", workers=workers)
    table = study_markdown(result)
    write_study_outputs(output, "cwola", result, table, study_figure, overwrite)
    typer.echo(table)
