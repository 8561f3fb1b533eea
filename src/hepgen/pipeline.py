"""The main job end to end: simulate -> train -> generate -> evaluate -> report (``hepgen demo``).

Each step is the same call a user makes on the command line; the demo only chains them on a small
embedded default (GFlash electrons in the CaloChallenge dataset-2 detector) and writes everything
under one folder. Steps already done (their output file exists) are skipped, so an interrupted demo
resumes where it stopped.

>>> cfg = DemoConfig.quick()
>>> cfg.detector, cfg.n_train
('calochallenge-2', 400)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["DemoConfig", "run_demo"]


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo. The default finishes in under 10 minutes on 2 cores."""

    detector: str = "calochallenge-2"
    particle: str = "electron"
    energies: str = "log-uniform:1GeV:100GeV"
    n_train: int = 10_000
    n_reference: int = 5_000
    model: str = "calo-cfm"
    train_minutes: float = 4.0
    max_epochs: int = 100        # the training budget decides; an upper bound only
    classifier: bool = True
    seed: int = 1

    @classmethod
    def quick(cls) -> "DemoConfig":
        """A tiny configuration for tests (well under a minute)."""
        return cls(n_train=400, n_reference=300, train_minutes=0.1, classifier=False)


def run_demo(output: str | Path, config: DemoConfig | None = None, overwrite: bool = False) -> Path:
    """Run the pipeline into ``output``; returns the path of the HTML report."""
    from hepgen.evaluate import quick_metrics
    from hepgen.progress import status
    from hepgen.report import evaluate_and_report
    from hepgen.simulate import simulate_to_file
    from hepgen.training import generate, train

    cfg = config or DemoConfig()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    files = {k: out / f"{k}.h5" for k in ("train", "reference", "generated")}
    run_dir = out / f"run-{cfg.model}"
    if overwrite:
        import shutil

        for f in files.values():
            f.unlink(missing_ok=True)
        shutil.rmtree(run_dir, ignore_errors=True)

    for step, (key, n, seed) in enumerate((("train", cfg.n_train, cfg.seed),
                                           ("reference", cfg.n_reference, cfg.seed + 1))):
        if files[key].exists():
            status(f"[{step + 1}/5] {files[key]} exists, kept")
            continue
        status(f"[{step + 1}/5] simulating {n} {cfg.particle} showers ({cfg.energies}) in {cfg.detector} with GFlash")
        simulate_to_file(files[key], cfg.detector, cfg.energies, n, particle=cfg.particle, seed=seed)

    status(f"[3/5] training {cfg.model} for {cfg.train_minutes:g} min -> {run_dir}")
    train(cfg.model, files["train"], run_dir, max_time=cfg.train_minutes * 60, max_epochs=cfg.max_epochs,
          seed=cfg.seed, resume=True, validation=quick_metrics)

    if not files["generated"].exists():
        status(f"[4/5] generating {cfg.n_reference} showers with the reference's incident energies")
        generate(run_dir, cfg.n_reference, f"like:{files['reference']}", files["generated"], seed=cfg.seed)

    status(f"[5/5] evaluating generated against reference -> {out / 'report'}")
    return evaluate_and_report(files["reference"], files["generated"], out / "report", classifier=cfg.classifier,
                               seed=cfg.seed, overwrite=True)
