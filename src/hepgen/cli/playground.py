"""``hepgen playground``: train the generative-model zoo on Two Moons and compare it (B. Käch, PhD thesis,
U. Hamburg / DESY (2024), Ch. 4 and App. A)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def playground(
    out: Path = typer.Option(Path("playground"), "--out", "-o",
                             help="Folder for playground.md (table), playground.json and playground.png (grid)."),
    models: str = typer.Option("default", help="Comma-separated model names, 'default' or 'all' "
                                               "(see the module hepgen.studies.playground)."),
    steps: int = typer.Option(20_000, help="Most optimiser updates per model (generator updates for GANs), "
                                           "batch 256."),
    budget: Optional[float] = typer.Option(15.0, help="Training seconds per model: the updates that fit this time "
                                                      "on this machine (timed on a few probe updates), at most "
                                                      "--steps; 0: exactly --steps updates."),
    n_eval: int = typer.Option(10_000, help="Samples per model and truth samples for the metrics."),
    seed: int = typer.Option(0, help="Random seed."),
    classifier: bool = typer.Option(True, help="Run the binary and multiclass classifier tests."),
    overwrite: bool = typer.Option(False, help="Replace existing outputs in --out."),
) -> None:
    """Train AE, VAE, five GAN losses, affine / RQS / conditional coupling flows, DDPM, CFM and OT-CFM on fresh
    Two Moons samples with one MLP backbone, and write a comparison table (W1 per marginal, FGD∞, classifier
    AUC, multiclass test, moon coverage) and a figure grid of samples beside the truth."""
    from hepgen.data.atomic import check_folder_writable
    from hepgen.errors import InputError
    from hepgen.studies.playground import DEFAULT_MODELS, MODELS, playground_table, run_playground

    if models == "default":
        names = list(DEFAULT_MODELS)
    elif models == "all":
        names = list(MODELS)
    else:
        names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise InputError(f"--models: unknown model(s) {', '.join(unknown) or '(none given)'}; expected 'default', "
                         f"'all' or some of {', '.join(MODELS)}")
    if steps < 1 or n_eval < 100:
        raise InputError(f"--steps must be >= 1 and --n-eval >= 100, got {steps} and {n_eval}")
    check_folder_writable(out)
    existing = [p for p in ("playground.json", "playground.md", "playground.png") if (out / p).exists()]
    if existing and not overwrite:
        raise InputError(f"{out / existing[0]} exists: pass --overwrite to replace it")
    result = run_playground(names, steps=steps, budget_s=budget or None, out=out, seed=seed, n_eval=n_eval,
                            classifier=classifier, multiclass=classifier)
    typer.echo(playground_table(result))
    typer.echo(f"wrote {out / 'playground.md'}, {out / 'playground.json'}, {out / 'playground.png'}")


def morphing_toy(
    out: Path = typer.Option(Path("morphing"), "--out", "-o", help="Folder for morphing.md and morphing.json."),
    models: str = typer.Option("nf-cond,cfm,ot-cfm", help="Comma-separated: nf-cond, cfm, ot-cfm."),
    steps: int = typer.Option(2000, help="Optimiser updates per model and setting, batch 256 per anchor pair."),
    dim: int = typer.Option(2, help="2, or 4 for two independent draws side by side (thesis Eq. 7.5)."),
    n_eval: int = typer.Option(5000, help="Points transported / sampled for the metrics (--classifier-study: test "
                                          "events per class)."),
    seed: int = typer.Option(0, help="Random seed."),
    classifier_study: bool = typer.Option(False, "--classifier-study", help="Instead of the transport table: the "
                                          "classifier study at φ = π/8 (baseline / interpolation / truth-scan "
                                          "training, 4 × 128, focal loss γ = 1.5), written to classifier.md/.json."),
    classifier_steps: int = typer.Option(1000, help="--classifier-study: classifier updates (batch 512)."),
    n_train: int = typer.Option(20_000, help="--classifier-study: signal and background training events."),
    repeats: int = typer.Option(1, help="--classifier-study: retrainings (CNF and classifiers); mean ± error."),
    overwrite: bool = typer.Option(False, help="Replace existing outputs in --out."),
) -> None:
    """The rotating-Gaussian morphing toy (B. Käch, PhD thesis (2024), Sec. 7.1): a conditional RQS flow, CFM and
    OT-CFM move φ = 0 to φ = π/2, with and without the midpoint φ = π/4; the table gives the fraction of points
    transported along the rotation (to the right quadrant), W1 at the end point and the Fréchet distance halfway."""
    import json

    from hepgen.data.atomic import atomic_path, check_folder_writable
    from hepgen.errors import InputError
    from hepgen.evaluate.evaluation import jsonable
    from hepgen.studies.morphing import MORPHING_MODELS, morphing_table, run_morphing

    if classifier_study:
        from hepgen.studies.morphing import classifier_study as study
        from hepgen.studies.morphing import classifier_study_table

        if dim not in (2, 4) or min(steps, classifier_steps, repeats) < 1 or n_train < 100:
            raise InputError(f"--dim must be 2 or 4, --steps, --classifier-steps, --repeats >= 1 and --n-train "
                             f">= 100, got {dim}, {steps}, {classifier_steps}, {repeats}, {n_train}")
        check_folder_writable(out)
        if (out / "classifier.json").exists() and not overwrite:
            raise InputError(f"{out / 'classifier.json'} exists: pass --overwrite to replace it")
        result = study(dim=dim, cfm_steps=steps, classifier_steps=classifier_steps, n_train=n_train,
                       n_test=n_eval, repeats=repeats, seed=seed)
        out.mkdir(parents=True, exist_ok=True)
        table = classifier_study_table(result)
        with atomic_path(out / "classifier.json", overwrite=True) as tmp:
            tmp.write_text(json.dumps(jsonable(result), indent=1))
        with atomic_path(out / "classifier.md", overwrite=True) as tmp:
            tmp.write_text(table + "\n")
        typer.echo(table)
        typer.echo(f"OT-CFM states at t = 1/4 vs Σ(π/8): Fréchet distance {result['fd_quarter_vs_pi_8']:.4f}")
        return
    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MORPHING_MODELS]
    if unknown or not names:
        raise InputError(f"--models: unknown model(s) {', '.join(unknown) or '(none given)'}; expected some of "
                         f"{', '.join(MORPHING_MODELS)}")
    if dim not in (2, 4) or steps < 1:
        raise InputError(f"--dim must be 2 or 4 and --steps >= 1, got {dim} and {steps}")
    check_folder_writable(out)
    if (out / "morphing.json").exists() and not overwrite:
        raise InputError(f"{out / 'morphing.json'} exists: pass --overwrite to replace it")
    result = run_morphing(names, steps=steps, seed=seed, n_eval=n_eval, dim=dim)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "morphing.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(jsonable(result), indent=1))
    with atomic_path(out / "morphing.md", overwrite=True) as tmp:
        tmp.write_text(morphing_table(result) + "\n")
    typer.echo(morphing_table(result))
