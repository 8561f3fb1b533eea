"""``hepgen simulate susy``: analysis-level events of a T5qqqqWW-like SUSY signal and its t t̄ / W + jets
background with Pythia 8 + FastJet; ``hepgen morph``: a morphing flow between two event files;
``hepgen susy-morphing``: the classifier-paradigm and discovery-significance study (B. Käch, PhD thesis (2024),
Sec. 7.2)."""

from __future__ import annotations

from pathlib import Path
import typer


def simulate_susy(
    process: str = typer.Option(..., "--process", "-p", help="signal (gluino pairs, T5qqqqWW-like), ttbar or wjets."),
    n_events: int = typer.Option(..., "-n", "--n-events", help="Pythia events to generate (stored: the events with "
                                 "one isolated lepton and two jets)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .npz event file."),
    epsilon: float = typer.Option(0.5, "--epsilon", help="signal: chargino mass mixing ε, m(χ±) = m(χ0) + "
                                  "ε (m(g̃) − m(χ0)) (thesis Eq. 7.6)."),
    seed: int = typer.Option(1, "--seed", help="Pythia seed."),
    pthat_min: float = typer.Option(400.0, "--pthat-min", help="ttbar, wjets: lowest p̂_T of the hard process, GeV."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Generate pp -> g̃ g̃ (g̃ -> q q' χ±, χ± -> W χ0; m(g̃) = 2200 GeV, m(χ0) = 100 GeV), t t̄ or W + jet events at
    13 TeV with Pythia 8, reconstruct lepton, anti-kT 0.4 jets and missing p_T at particle level and store the 15
    analysis features of the thesis's Sec. 7.2 with the event weight (fb per event)."""
    from hepgen.simulate.susy import SusyProduction, simulate_susy as run

    meta = run(SusyProduction(process, n_events, epsilon, seed, pthat_min), output, overwrite=overwrite)
    typer.echo(f"wrote {meta['n_stored']} of {n_events} events to {output} (σ = {meta['sigma_fb']:.4g} fb, "
               f"{meta['seconds']:.0f} s)")
