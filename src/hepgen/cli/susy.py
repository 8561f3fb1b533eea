"""``hepgen simulate susy``: analysis-level events of a T5qqqqWW-like SUSY signal and its t t̄ / W + jets
background with Pythia 8 + FastJet; ``hepgen morph``: a morphing flow between two event files;
``hepgen susy-morphing``: the classifier-paradigm and discovery-significance study (B. Käch, PhD thesis (2024),
Sec. 7.2)."""

from __future__ import annotations

from pathlib import Path
from typing import List

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
    pthat_max: float = typer.Option(0.0, "--pthat-max", help="ttbar, wjets: highest p̂_T, GeV (0: none): slices."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Generate pp -> g̃ g̃ (g̃ -> q q' χ±, χ± -> W χ0; m(g̃) = 2200 GeV, m(χ0) = 100 GeV), t t̄ or W + jet events at
    13 TeV with Pythia 8, reconstruct lepton, anti-kT 0.4 jets and missing p_T at particle level and store the 15
    analysis features of the thesis's Sec. 7.2 with the event weight (fb per event)."""
    from hepgen.simulate.susy import SusyProduction, simulate_susy as run

    meta = run(SusyProduction(process, n_events, epsilon, seed, pthat_min, pthat_max or None), output,
               overwrite=overwrite)
    typer.echo(f"wrote {meta['n_stored']} of {n_events} events to {output} (σ = {meta['sigma_fb']:.4g} fb, "
               f"{meta['seconds']:.0f} s)")


def morph(
    source: Path = typer.Argument(..., help="Event file at t = 0 (hepgen simulate susy .npz)."),
    target: Path = typer.Argument(..., help="Event file at t = 1."),
    out: Path = typer.Option(Path("morph"), "--out", "-o", help="Folder for morph.pt, morph.json and the samples."),
    times: str = typer.Option("0.5,1", "--t", help="Comma-separated ODE times at which to write samples "
                              "(samples_t<T>.npz: the source events transported forwards to T)."),
    backward: bool = typer.Option(False, "--backward", help="Also transport the target events backwards to each T "
                                  "(samples_back_t<T>.npz)."),
    steps: int = typer.Option(3000, help="Optimiser updates (batch 256)."),
    width: int = typer.Option(256, help="Hidden units of the 4-layer velocity network."),
    min_jets: int = typer.Option(5, help="Signal region: at least this many jets (thesis: 5)."),
    seed: int = typer.Option(0, help="Random seed."),
    overwrite: bool = typer.Option(False, help="Replace existing outputs in --out."),
) -> None:
    """Train an OT-CFM that transports the analysis features of SOURCE (t = 0) to those of TARGET (t = 1), e.g. the
    SUSY signal at ε = 25 % to ε = 75 % (B. Käch, PhD thesis (2024), Sec. 7.2), with checkpoint selection by ⟨S²⟩ +
    mean ECDF distance on 20 % held-out events, and write samples at intermediate times."""
    import json

    import numpy as np
    import torch

    from hepgen.data.atomic import atomic_path, check_folder_writable
    from hepgen.errors import InputError
    from hepgen.evaluate.evaluation import jsonable
    from hepgen.simulate.susy import FEATURES, load_susy_events
    from hepgen.studies.susy_morphing import FeatureScaler, morph_distance, train_morph

    try:
        ts = [float(t) for t in times.split(",") if t.strip()]
    except ValueError:
        raise InputError(f"--t: expected comma-separated numbers, got '{times}'") from None
    if not ts or steps < 1:
        raise InputError(f"need at least one time in --t and --steps >= 1, got '{times}' and {steps}")
    check_folder_writable(out)
    if (out / "morph.json").exists() and not overwrite:
        raise InputError(f"{out / 'morph.json'} exists: pass --overwrite to replace it")
    src, tgt = load_susy_events(source, min_jets=min_jets), load_susy_events(target, min_jets=min_jets)
    for path, ev in ((source, src), (target, tgt)):
        if len(ev["lt"]) < 10:
            raise InputError(f"only {len(ev['lt'])} events in the signal region (need 10)", file=str(path))
    rng = np.random.default_rng(seed)
    scaler = FeatureScaler(FEATURES).fit(np.concatenate([src["features"], tgt["features"]]))
    z0, z1 = scaler.transform(src["features"], rng), scaler.transform(tgt["features"], rng)
    p0, p1 = rng.permutation(len(z0)), rng.permutation(len(z1))
    k0, k1 = int(0.8 * len(z0)), int(0.8 * len(z1))
    field, info = train_morph(z0[p0[:k0]], z1[p1[:k1]], steps=steps, width=width, seed=seed,
                              validation=(z0[p0[k0:]], z1[p1[k1:]]))
    out.mkdir(parents=True, exist_ok=True)
    summary = {"source": str(source), "target": str(target), "training": info, "scaler": scaler.state(),
               "distances": {}}
    for t in ts:
        fwd = field.transport(torch.from_numpy(z0), t, 200).numpy()
        runs = [("samples", fwd)]
        if backward:
            runs.append(("samples_back", field.transport(torch.from_numpy(z1), t, 200, t0=1.0).numpy()))
        for stem, z in runs:
            with atomic_path(out / f"{stem}_t{t:g}.npz", overwrite=True) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, features=scaler.inverse(z).astype(np.float32), t=np.float64(t))
        if t == 1.0:
            summary["distances"]["forward_vs_target"] = morph_distance(z1, fwd)
        if t == 0.0 and backward:
            summary["distances"]["backward_vs_source"] = morph_distance(z0, runs[1][1])
    with atomic_path(out / "morph.pt", overwrite=True) as tmp:
        torch.save({"state_dict": field.state_dict(), "width": width, "scaler": scaler.state()}, tmp)
    with atomic_path(out / "morph.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(jsonable(summary), indent=1))
    typer.echo(f"trained {steps} steps (kept step {info['best_step']}); wrote samples at t = {times} to {out}")


def susy_morphing(
    signal_25: Path = typer.Option(..., "--signal-25", help="Signal event file at ε = 25 %."),
    signal_50: Path = typer.Option(..., "--signal-50", help="Signal event file at ε = 50 % (held out: test, sanity)."),
    signal_75: Path = typer.Option(..., "--signal-75", help="Signal event file at ε = 75 %."),
    background: List[Path] = typer.Option(..., "--background", "-b", help="Background event files (repeatable)."),
    out: Path = typer.Option(Path("susy_morphing"), "--out", "-o", help="Folder for susy_morphing.md/.json."),
    morph_steps: int = typer.Option(2000, help="OT-CFM updates (batch 256)."),
    classifier_steps: int = typer.Option(1000, help="Classifier updates per training (batch 1024)."),
    repeats: int = typer.Option(10, help="Classifier retrainings per paradigm (thesis: 10)."),
    min_jets: int = typer.Option(5, help="Signal region: at least this many jets (thesis: 5)."),
    seed: int = typer.Option(0, help="Random seed."),
    overwrite: bool = typer.Option(False, help="Replace existing outputs in --out."),
) -> None:
    """The analysis-level morphing study (B. Käch, PhD thesis (2024), Sec. 7.2): OT-CFM morphs ε = 25 % <-> 75 %,
    classifiers trained on the end points (baseline), on CNF events along the ODE time (interpolation) and on
    ε = 25/50/75 % (sanity), tested on ε = 50 %: the luminosity needed for a 3σ discovery with the 3-bin Asimov
    likelihood, mean ± error over the retrainings."""
    import json

    from hepgen.data.atomic import atomic_path, check_folder_writable
    from hepgen.errors import InputError
    from hepgen.evaluate.evaluation import jsonable
    from hepgen.studies.susy_morphing import susy_morphing_study, susy_morphing_table

    if min(morph_steps, classifier_steps, repeats) < 1:
        raise InputError("--morph-steps, --classifier-steps and --repeats must be >= 1")
    check_folder_writable(out)
    if (out / "susy_morphing.json").exists() and not overwrite:
        raise InputError(f"{out / 'susy_morphing.json'} exists: pass --overwrite to replace it")
    result = susy_morphing_study({0.25: signal_25, 0.5: signal_50, 0.75: signal_75}, background,
                                 morph_steps=morph_steps, classifier_steps=classifier_steps, repeats=repeats,
                                 min_jets=min_jets, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    table = susy_morphing_table(result)
    c = result["comparison"]
    err = "" if c["error"] is None else f" ± {100 * c['error']:.0f}"
    line = (f"baseline needs {100 * c['baseline_over_interpolation_minus_1']:+.0f}{err} % the luminosity of "
            "interpolation")
    with atomic_path(out / "susy_morphing.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(jsonable(result), indent=1))
    with atomic_path(out / "susy_morphing.md", overwrite=True) as tmp:
        tmp.write_text(table + "\n\n" + line + "\n")
    typer.echo(table)
    typer.echo(line)
