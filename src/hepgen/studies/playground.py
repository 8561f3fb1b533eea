"""The generative-model playground on Two Moons (B. Käch, "Generative Modelling in High-Energy Physics", PhD
thesis, U. Hamburg / DESY (2024), Ch. 4 and App. A; companion code: the author's ``gen_model_playground``).

Every model of :data:`MODELS` (AE, VAE, five GAN losses, affine / RQS / conditional coupling flows, DDPM, CFM,
OT-CFM) is trained on fresh Two Moons samples at every step (:func:`two_moons`, standardised with the
distribution's own mean and spread), with the same backbone (:mod:`hepgen.studies.toymodels`) and then judged on
``n_eval`` samples against as many fresh truth samples:

* ``w1_x``, ``w1_y`` — W1 of each marginal (:func:`hepgen.evaluate.w1`, thesis Eq. 4.55), in data units;
* ``fgd_inf`` — the Fréchet distance extrapolated to infinite samples: FD at several N, a line in 1/N, the
  intercept (Chong & Forsyth, arXiv:1911.07023; :func:`hepgen.evaluate.fpd`, unnormalised);
* ``auc`` — the binary classifier test, truth vs model (:func:`hepgen.evaluate.classifier.classifier_test`);
* ``multiclass_share`` — the multiclass test of the thesis's App. A (GalaxyFlow, arXiv:2211.11765): one network
  learns to tell the truth and all models apart; held-out truth points are assigned to the models (truth
  class left out), the larger a model's share the more truth-like it is; ``multiclass_recall`` — how often the
  network recognises the model's own samples (high = easy to tell apart);
* ``upper_moon_fraction`` (truth 0.5; a mode collapse moves it) and ``off_moon_fraction`` (points farther than
  3 σ = 0.15 from both noiseless crescents; truth 0.3 %), from :func:`moon_assignment`.

The Two Moons of the thesis (Eq. 4.1, generated there with scikit-learn's ``make_moons``): θ ~ U[0, 2π),
(cos θ, sin θ) + (0, 0) for θ < π and + (1, 0.5) for θ ≥ π (the upper half circle and the lower half circle
shifted by (1, 0.5), interleaved; Eq. 4.1 prints the shift as (1, −0.5), which would not interleave them),
plus N(0, 0.05²) noise per coordinate; label 0 = upper moon.

>>> import torch
>>> x, label = two_moons(4, torch.Generator().manual_seed(0))
>>> tuple(x.shape), label.tolist()
((4, 2), [1, 1, 0, 1])
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from hepgen.studies.toymodels import ToyAutoencoder, ToyCFM, ToyDDPM, ToyFlow, ToyGAN, ToyModel

__all__ = ["two_moons", "MODELS", "DEFAULT_MODELS", "TRUTH_MEAN", "TRUTH_STD", "moon_assignment", "train_model",
           "evaluate_samples", "run_playground", "playground_table", "plot_samples", "NOISE"]

NOISE = 0.05
#: mean and spread of the Two Moons (10^7 samples), the fixed standardisation of every model
TRUTH_MEAN = (0.5, 0.25)
TRUTH_STD = (0.8697, 0.4988)

#: name -> constructor(n_steps) of every playground model
MODELS: dict[str, Callable[[int], ToyModel]] = {
    "ae": lambda n: ToyAutoencoder(variational=False, n_steps=n),
    "vae": lambda n: ToyAutoencoder(variational=True, n_steps=n),
    "gan-minimax": lambda n: ToyGAN(loss="minimax", n_steps=n),
    "gan-ns": lambda n: ToyGAN(loss="non-saturating", n_steps=n),
    "lsgan": lambda n: ToyGAN(loss="least-squares", n_steps=n),
    "wgan-clip": lambda n: ToyGAN(loss="wgan", n_steps=n),
    "wgan-gp": lambda n: ToyGAN(loss="wgan-gp", n_steps=n),
    "gan-ns-bn": lambda n: ToyGAN(loss="non-saturating", norm="batch", n_steps=n),
    "gan-ns-sn": lambda n: ToyGAN(loss="non-saturating", norm="spectral", n_steps=n),
    "gan-ns-wn": lambda n: ToyGAN(loss="non-saturating", norm="weight", n_steps=n),
    "nf-affine": lambda n: ToyFlow(kind="affine", n_steps=n),
    "nf-rqs": lambda n: ToyFlow(kind="rqs", n_steps=n),
    "nf-rqs-cond": lambda n: ToyFlow(kind="rqs", conditional=True, n_steps=n),
    "ddpm": lambda n: ToyDDPM(n_steps=n),
    "cfm": lambda n: ToyCFM(n_steps=n),
    "cfm-euler": lambda n: ToyCFM(n_steps=n, method="euler"),
    "ot-cfm": lambda n: ToyCFM(coupling="ot", n_steps=n),
}
#: the models ``hepgen playground`` trains by default (the variants of thesis Ch. 4)
DEFAULT_MODELS = ("ae", "vae", "gan-minimax", "gan-ns", "lsgan", "wgan-clip", "wgan-gp", "nf-affine", "nf-rqs",
                  "nf-rqs-cond", "ddpm", "cfm", "ot-cfm")


def two_moons(n: int, generator: torch.Generator | None = None, noise: float = NOISE
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` Two Moons points (n, 2) float32 in data units and their moon labels (n,) int64 (0 upper, 1 lower),
    see the module docstring.

    >>> x, label = two_moons(100_000, torch.Generator().manual_seed(1))
    >>> [round(v, 2) for v in x.mean(0).tolist()], round(float(label.float().mean()), 2)
    ([0.5, 0.25], 0.5)
    """
    theta = 2 * torch.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    label = (theta >= torch.pi).long()
    x = torch.stack([torch.cos(theta) + label, torch.sin(theta) + 0.5 * label], 1)
    x = x + noise * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return x.float(), label


def _curves(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, np.pi, n)
    upper = np.c_[np.cos(t), np.sin(t)]
    lower = np.c_[1 + np.cos(t + np.pi), 0.5 + np.sin(t + np.pi)]
    return upper, lower


def moon_assignment(x: np.ndarray, width: float = 3 * NOISE) -> dict[str, float]:
    """Which crescent the points of ``x`` (N, 2) lie on: the fraction nearer the upper noiseless crescent than the
    lower (truth 0.5: a model that drops or favours a moon moves it) and the fraction farther than ``width``
    from both (truth 0.3 % at 3 σ: smearing or points between the moons).

    >>> x, _ = two_moons(20_000, torch.Generator().manual_seed(0))
    >>> r = moon_assignment(x.numpy())
    >>> abs(r["upper_moon_fraction"] - 0.5) < 0.02, r["off_moon_fraction"] < 0.01
    (True, True)
    """
    from scipy.spatial import cKDTree

    x = np.asarray(x, np.float64)
    finite = np.isfinite(x).all(1)
    x = np.where(finite[:, None], x, 1e6)          # non-finite points count as off both moons
    upper, lower = _curves()
    d_up, _ = cKDTree(upper).query(x)
    d_low, _ = cKDTree(lower).query(x)
    return {"upper_moon_fraction": float(np.mean((d_up < d_low) & finite)),
            "off_moon_fraction": float(np.mean((np.minimum(d_up, d_low) > width) | ~finite))}


def _standardise(x: torch.Tensor) -> torch.Tensor:
    return (x - torch.tensor(TRUTH_MEAN)) / torch.tensor(TRUTH_STD)


def _unstandardise(z: torch.Tensor) -> torch.Tensor:
    return z * torch.tensor(TRUTH_STD) + torch.tensor(TRUTH_MEAN)


def _steps_for_budget(name: str, budget_s: float, batch_size: int, n_probe: int = 20) -> int:
    """Updates of model ``name`` that fit ``budget_s`` seconds, from the time of ``n_probe`` updates of a
    throwaway copy (after 3 warm-up updates)."""
    probe = MODELS[name](n_probe + 3)
    rng = torch.Generator().manual_seed(0)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        x, label = two_moons(batch_size, rng)
        return _standardise(x), label

    for step in range(3):
        probe.training_step(draw, step)
    start = time.perf_counter()
    for step in range(n_probe):
        probe.training_step(draw, step)
    return max(1, int(budget_s / ((time.perf_counter() - start) / n_probe)))


def train_model(name: str, steps: int, budget_s: float | None = None, seed: int = 0, batch_size: int = 256,
                on_step: Callable[[], None] | None = None) -> tuple[ToyModel, dict[str, Any]]:
    """Train the playground model ``name`` (:data:`MODELS`) for ``steps`` updates on fresh standardised Two Moons
    batches of ``batch_size`` (thesis: 256). With ``budget_s`` the number of updates is what fits that many
    seconds on this machine (timed on a few probe updates), at most ``steps``: every model then gets the same
    CPU time, and its learning-rate schedule (warm-up + cosine) runs to its end. Returns the model and
    {steps, seconds, parameters, final losses}.

    >>> model, info = train_model("cfm", steps=3)
    >>> info["steps"], info["sampling_parameters"] > 5000
    (3, True)
    """
    if name not in MODELS:
        raise ValueError(f"unknown playground model '{name}': expected one of {', '.join(MODELS)}")
    if budget_s is not None:
        steps = min(steps, _steps_for_budget(name, budget_s, batch_size))
    torch.manual_seed(seed)
    data_rng = torch.Generator().manual_seed(seed + 1)
    model = MODELS[name](steps)

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        x, label = two_moons(batch_size, data_rng)
        return _standardise(x), label

    start, done, losses = time.perf_counter(), 0, {}
    for step in range(steps):
        losses = model.training_step(draw, step)
        done += 1
        if on_step is not None:
            on_step()
    info = {"steps": done, "seconds": time.perf_counter() - start, "sampling_parameters": model.n_sampling_parameters,
            "parameters": model.n_parameters, "final_losses": losses}
    return model, info


def sample_model(model: ToyModel, n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples of a trained playground model in data units, (n, 2) float64."""
    torch.manual_seed(seed)
    return _unstandardise(model.sample(n).float()).double().numpy()


def evaluate_samples(samples: dict[str, np.ndarray], truth: np.ndarray, seed: int = 0, classifier: bool = True,
                     multiclass: bool = True, classifier_options: dict | None = None) -> dict[str, dict[str, Any]]:
    """The playground metrics (module docstring) of every sample in ``samples`` against ``truth`` (N, 2), one
    row per model; the multiclass test sees all samples at once. Non-finite samples give NaN distances.

    >>> rng = np.random.default_rng(0)
    >>> truth = two_moons(4000, torch.Generator().manual_seed(0))[0].numpy()
    >>> rows = evaluate_samples({"shifted": truth + 0.3}, truth, classifier=False, multiclass=False)
    >>> round(rows["shifted"]["w1_x"], 2), rows["shifted"]["fgd_inf"] > 0.1
    (0.3, True)
    """
    from hepgen.evaluate import fpd, w1
    from hepgen.evaluate.classifier import classifier_test, multiclass_test

    opts = {"n_hidden": 64, "n_epochs": 20, **(classifier_options or {})}
    n = min(len(truth), *(len(s) for s in samples.values()))
    rows: dict[str, dict[str, Any]] = {}
    for name, x in samples.items():
        x = np.asarray(x, np.float64)
        row: dict[str, Any] = {"n_samples": len(x), **moon_assignment(x)}
        finite = bool(np.isfinite(x).all())
        row["w1_x"] = w1(truth[:, 0], x[:, 0]) if finite else float("nan")
        row["w1_y"] = w1(truth[:, 1], x[:, 1]) if finite else float("nan")
        if finite:
            d = fpd(truth, x, min_samples=max(n // 5, 10), max_samples=n, num_batches=5, num_points=5,
                    normalise=False, seed=seed)
            row["fgd_inf"], row["fgd_inf_error"] = d.value, d.error
        else:
            row["fgd_inf"] = row["fgd_inf_error"] = float("nan")
        if classifier and finite:
            r = classifier_test(truth, x, seed=seed, **opts)
            row["auc"], row["auc_error"] = r["auc"], r["auc_error"]
        rows[name] = row
    finite_samples = {k: v for k, v in samples.items() if np.isfinite(v).all()}
    if multiclass and len(finite_samples) >= 1:
        r = multiclass_test({"truth": truth, **finite_samples}, reference="truth", seed=seed, **opts)
        for name in finite_samples:
            rows[name]["multiclass_share"] = r["reference_assignment"][name]
            rows[name]["multiclass_recall"] = r["recall"][name]
        for name in rows:
            rows[name]["multiclass_chance"] = 1.0 / len(finite_samples)
    return rows


COLUMNS = [("w1_x", "W1(x)", "{:.4f}"), ("w1_y", "W1(y)", "{:.4f}"), ("fgd_inf", "FGD∞", "{:.2e}"),
           ("auc", "AUC", "{:.3f}"), ("multiclass_share", "multiclass share", "{:.3f}"),
           ("multiclass_recall", "multiclass recall", "{:.3f}"), ("upper_moon_fraction", "upper moon", "{:.3f}"),
           ("off_moon_fraction", "off moon", "{:.3f}")]


def playground_table(result: dict[str, Any]) -> str:
    """Markdown table of :func:`run_playground`'s result: one row per model, the truth-vs-truth row first.

    >>> print(playground_table({"models": {"m": {"w1_x": 0.01, "steps": 5, "seconds": 1.0,
    ...                                           "sampling_parameters": 10}}}).splitlines()[2])
    | m | 10 | 5 | 1 | 0.0100 | – | – | – | – | – | – | – |
    """
    head = "| model | parameters (sampling) | steps | train s | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = [head, "|---" * (4 + len(COLUMNS)) + "|"]
    rows = dict(result.get("reference", {}))
    rows.update(result["models"])
    for name, row in rows.items():
        cells = [name, str(row.get("sampling_parameters", "–")), str(row.get("steps", "–")),
                 f"{row['seconds']:.0f}" if "seconds" in row else "–"]
        for key, _, fmt in COLUMNS:
            v = row.get(key)
            cells.append("–" if v is None else ("nan" if not np.isfinite(v) else fmt.format(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_samples(samples: dict[str, np.ndarray], truth: np.ndarray, path: str | Path, n_plot: int = 5000,
                 columns: int = 4) -> None:
    """The figure grid: the truth and each model's samples as scatter plots on the same axes (PNG at ``path``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {"truth": truth, **samples}
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_visible(False)
    for ax, (name, x) in zip(axes.ravel(), panels.items()):
        ax.set_visible(True)
        x = np.asarray(x)[:n_plot]
        ax.scatter(x[:, 0], x[:, 1], s=0.5, alpha=0.4, color="black" if name == "truth" else "C0", rasterized=True)
        ax.set_xlim(-1.6, 2.6)
        ax.set_ylim(-1.1, 1.6)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    from hepgen.data import atomic_path

    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def run_playground(models: Sequence[str] = DEFAULT_MODELS, steps: int = 20_000, budget_s: float | None = 15.0,
                   out: str | Path | None = None, seed: int = 0, n_eval: int = 10_000, batch_size: int = 256,
                   classifier: bool = True, multiclass: bool = True, classifier_options: dict | None = None
                   ) -> dict[str, Any]:
    """Train every model of ``models`` (``budget_s`` seconds of updates each, at most ``steps``), sample
    ``n_eval`` points from each, evaluate them (:func:`evaluate_samples`, plus a truth-vs-truth reference row)
    and, with ``out``, write ``playground.json``, ``playground.md`` and ``playground.png`` there (atomically).
    Returns {settings, models: {name: row}, reference: {"truth (2nd sample)": row}, samples (not in the JSON)}.
    """
    from hepgen.progress import ProgressBar, status

    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown playground model(s) {', '.join(unknown)}: expected some of {', '.join(MODELS)}")
    rows: dict[str, dict[str, Any]] = {}
    samples: dict[str, np.ndarray] = {}
    with ProgressBar(total=len(models), description="playground: models") as bar:
        for i, name in enumerate(models):
            model, info = train_model(name, steps, budget_s, seed=seed + 1000 * i, batch_size=batch_size)
            samples[name] = sample_model(model, n_eval, seed=seed + 1000 * i + 7)
            rows[name] = info
            status(f"{name}: {info['steps']} steps in {info['seconds']:.0f} s")
            bar.advance(1)
    gen = torch.Generator().manual_seed(seed + 99)
    truth = two_moons(n_eval, gen)[0].double().numpy()
    truth2 = two_moons(n_eval, gen)[0].double().numpy()
    metrics = evaluate_samples({**samples, "truth (2nd sample)": truth2}, truth, seed=seed, classifier=classifier,
                               multiclass=multiclass, classifier_options=classifier_options)
    for name in models:
        rows[name].update(metrics[name])
    result = {"settings": {"models": list(models), "steps": steps, "budget_s": budget_s, "seed": seed,
                           "n_eval": n_eval, "batch_size": batch_size},
              "reference": {"truth (2nd sample)": metrics["truth (2nd sample)"]}, "models": rows}
    if out is not None:
        write_playground(result, samples, truth, out)
    result["samples"] = samples
    return result


def write_playground(result: dict[str, Any], samples: dict[str, np.ndarray], truth: np.ndarray,
                     out: str | Path) -> None:
    """Write ``playground.json``, ``playground.md`` (the table) and ``playground.png`` (the grid) into ``out``."""
    from hepgen.data import atomic_path
    from hepgen.evaluate.evaluation import jsonable

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in result.items() if k != "samples"}
    with atomic_path(out / "playground.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps(jsonable(clean), indent=1))
    with atomic_path(out / "playground.md", overwrite=True) as tmp:
        tmp.write_text(playground_table(clean) + "\n")
    plot_samples(samples, truth, out / "playground.png")
