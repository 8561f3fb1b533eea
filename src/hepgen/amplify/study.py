"""Amplification studies: D̄_JS versus n_quant for named observables (S. Bieringer et al., "Calomplification — the
power of generative calorimeter models", JINST 17 (2022) P09028, arXiv:2202.07352) and the analytic GANplification
toys with classical baselines (A. Butter et al., "GANplifying event samples", arXiv:2008.06545; S. Diefenbacher,
"Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), Ch. 5).

:func:`amplify_study` takes per-sample observable tables (name -> values) for the training
sample(s), generated sample(s), a *truth* sample (defines the cells and p_i) and a disjoint
reference *pool* (subsets of several sizes give the reference curves); :func:`write_study` writes
``amplify.json``, ``amplify.md`` and one plot per observable set. :func:`toy_study` measures the
quantile √MSE and amplification of baselines fitted to the toys' training samples.

An observable set is a name or names joined by ``+`` (``E_vis+E_peak`` is the 2D joint).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> table = lambda n: {"E_vis": rng.normal(size=n)}
>>> res = amplify_study([table(1000)], [table(20000)], table(50000), table(20000), ["E_vis"],
...                     sizes=[1000, 5000], replicates=3, n_quant=[8, 64], baselines=[])
>>> e = res["sets"]["E_vis"]["equivalent"]["generated"]["multinomial"][-1]["value"]
>>> 10000 < e < 40000      # a 20k truth-like sample is worth about 20k
True
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from hepgen.amplify.baselines import fit_baseline
from hepgen.amplify.equivalent import (_finite, equivalent_size_from_reference, equivalent_size_multinomial,
                                       expected_mse)
from hepgen.amplify.jsd import JSDCurve, default_n_quants, jsd_curve, quantile_mse
from hepgen.amplify.quantiles import build_quantile_cells
from hepgen.errors import InputError
from hepgen.evaluate.observables import PER_ENTRY
from hepgen.progress import status

__all__ = ["amplify_study", "amplify_files", "observables_of_file", "write_study", "toy_study",
           "toy_amplification_table", "stack_observables"]


def stack_observables(table: dict[str, np.ndarray], obs_set: str, where: str = "sample") -> np.ndarray:
    """(n, d) array of the observables named in ``obs_set`` (``a+b+...``), rows with NaN dropped."""
    names = obs_set.split("+")
    missing = [n for n in names if n not in table]
    if missing:
        raise InputError(f"{where}: observable {missing[0]!r} not computed")
    if len(names) > 1 and any(n in PER_ENTRY for n in names):
        raise InputError(f"{obs_set!r}: per-pixel observables cannot enter a joint distribution")
    x = np.stack([np.asarray(table[n], dtype=np.float64) for n in names], axis=1)
    return x[np.all(np.isfinite(x), axis=1)]


def _subsets(pool: np.ndarray, n: int, replicates: int, rng: np.random.Generator, blocks: bool) -> list[np.ndarray]:
    if blocks:                                  # per-entry observable: contiguous runs of entries
        starts = rng.integers(0, max(1, len(pool) - n + 1), size=replicates)
        return [pool[s:s + n] for s in starts]
    if n * replicates <= len(pool):             # disjoint subsets, as in Bieringer et al. 2022
        perm = rng.permutation(len(pool))
        return [pool[perm[i * n:(i + 1) * n]] for i in range(replicates)]
    return [pool[rng.choice(len(pool), n, replace=False)] for _ in range(replicates)]


def amplify_study(train: Sequence[dict[str, np.ndarray]], generated: Sequence[dict[str, np.ndarray]],
                  truth: dict[str, np.ndarray], pool: dict[str, np.ndarray], observables: Sequence[str],
                  sizes: Sequence[int] = (1000, 5000, 10000, 50000), replicates: int = 5,
                  n_quant: Sequence[int] | None = None, max_n_quant: int | None = None,
                  baselines: Sequence[str] = ("kde", "hist"), n_baseline_samples: int = 1_000_000,
                  hist_splits: int = 500, seed: int = 0) -> dict:
    """D̄_JS curves and equivalent sizes for each observable set (see module docstring).

    ``train``/``generated`` are lists of tables (several = independent trainings, giving the std);
    ``sizes`` are reference subset sizes in showers. Returns a JSON-ready dict.
    """
    rng = np.random.default_rng(seed)
    out: dict = {"sizes": list(map(int, sizes)), "replicates": int(replicates), "sets": {}}
    for obs_set in observables:
        status(f"amplify: {obs_set}")
        t = stack_observables(truth, obs_set, "truth")
        p = stack_observables(pool, obs_set, "reference pool")
        trains = [stack_observables(s, obs_set, "training sample") for s in train]
        gens = [stack_observables(s, obs_set, "generated sample") for s in generated]
        per_entry = obs_set in PER_ENTRY
        # entries per shower, to convert subset sizes in showers into entries for per-pixel observables
        n_pool_showers = len(next(iter(v for k, v in pool.items() if k not in PER_ENTRY), p))
        scale = len(p) / max(n_pool_showers, 1) if per_entry else 1.0
        ks = list(n_quant) if n_quant is not None else default_n_quants(len(t), max_n_quant)
        ks = [k for k in ks if k <= len(t)]
        cells = {k: build_quantile_cells(t, k) for k in ks}
        curves: dict[str, JSDCurve] = {}
        for n in sizes:
            m = int(round(n * scale))
            if m > len(p):
                continue
            curves[f"reference {n:g}"] = jsd_curve(_subsets(p, m, replicates, rng, per_entry), cells, ks,
                                                   f"reference {n:g}")
        curves["train"] = jsd_curve(trains, cells, ks, "train")
        curves["generated"] = jsd_curve(gens, cells, ks, "generated")
        params = {}
        if not per_entry:
            for name in baselines:
                fits = [fit_baseline(name, s, seed=seed + i, **({"n_splits": hist_splits} if name == "hist" else {}))
                        for i, s in enumerate(trains)]
                params[name] = [f.params() for f in fits]
                samples = [f.sample(n_baseline_samples, seed=seed + i) for i, f in enumerate(fits)]
                curves[name] = jsd_curve(samples, cells, ks, name)
        ref_sizes = [int(k.split()[1]) for k in curves if k.startswith("reference")]
        ref_curves = [curves[f"reference {n:g}"] for n in ref_sizes]
        n_train = int(round(np.mean([len(s) for s in trains]) / scale))
        equivalent: dict = {}
        for label, c in curves.items():
            if label.startswith("reference"):
                continue
            mult, refd = [], []
            for j, k in enumerate(ks):
                e = equivalent_size_multinomial(c.mean[j], cells[k].probabilities, c.std[j], n_reference=len(t))
                mult.append({"n_quant": k, **_in_showers(e, scale).to_dict(),
                             "factor": _finite(_in_showers(e, scale).factor(n_train).n_equiv)})
                if ref_curves:
                    e = equivalent_size_from_reference(ref_sizes, [r.mean[j] for r in ref_curves], c.mean[j],
                                                       c.std[j], [r.std[j] for r in ref_curves])
                    refd.append({"n_quant": k, **e.to_dict(), "factor": _finite(e.factor(n_train).n_equiv)})
            equivalent[label] = {"multinomial": mult, "reference_subsets": refd}
        out["sets"][obs_set] = {"n_truth": len(t), "n_train": n_train, "per_entry": per_entry,
                                "curves": {k: v.to_dict() for k, v in curves.items()},
                                "equivalent": equivalent, "baseline_params": params}
    return out


def observables_of_file(path: str | Path, names: Sequence[str], pool: int = 3, threshold: float = 0.1,
                        pixel_threshold: float = 5.0, geometry: str | None = None, start: int = 0,
                        stop: int | None = None, chunk_size: int = 10_000) -> dict[str, np.ndarray]:
    """Amplification observables (:data:`hepgen.evaluate.observables.IMAGE_OBSERVABLES`) of showers ``start:stop``
    of a shower file, read in chunks; thresholds in MeV. A generated file is judged, not refused: values
    the lenient reader flags are reported as warnings.

    >>> observables_of_file("no/such/file.h5", ["E_vis"])
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: no/such/file.h5: file not found
    """
    from hepgen.evaluate.observables import shower_observables
    from hepgen.data import ShowerFile
    from hepgen.data.validate import LENIENT
    from hepgen.progress import track, warn

    f = ShowerFile(path, geometry=geometry, policy=LENIENT)
    stop = len(f) if stop is None else min(stop, len(f))
    parts: dict[str, list] = {n: [] for n in names}
    for s in track(range(start, stop, chunk_size), description=f"observables of {Path(path).name}"):
        chunk = f.read(s, min(s + chunk_size, stop))
        obs = shower_observables(chunk.energy, chunk.incident_energy, chunk.geometry, threshold, pool=pool,
                                 names=list(names), pixel_threshold_mev=pixel_threshold)
        for n in names:
            parts[n].append(obs[n])
    for message in f.warnings:
        warn(message)
    return {n: np.concatenate(v) if v else np.zeros(0) for n, v in parts.items()}


def amplify_files(train: Sequence[str | Path], generated: Sequence[str | Path], reference: str | Path,
                  observables: Sequence[str] = ("E_vis", "E_peak", "E_pixel", "CG_x", "CG_y"),
                  sizes: Sequence[int] = (1000, 5000, 10000, 50000), pool_size: int | None = None,
                  replicates: int = 5, max_n_quant: int | None = None, baselines: Sequence[str] = ("kde", "hist"),
                  baseline_samples: int = 1_000_000, hist_splits: int = 500, pool: int = 3, threshold: float = 0.1,
                  pixel_threshold: float = 5.0, geometry: str | None = None, max_generated: int | None = None,
                  seed: int = 0) -> dict:
    """The amplification study of shower files (what ``hepgen amplify`` runs), as a Python call.

    ``reference`` (disjoint from the training data) is split into a pool for subsets of ``sizes``
    (``pool_size`` showers, default the largest size, at most half the file) and a truth set that
    defines the quantiles; observables (joint ones as ``"E_vis+E_peak"``) are computed on images
    summed over depth and pooled ``pool`` x ``pool``; thresholds in MeV. Returns the result of
    :func:`amplify_study` with the inputs recorded; :func:`write_study` writes it.

    >>> amplify_files(["t.h5"], ["g.h5"], "r.h5", observables=["E_bogus"])
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: unknown observable 'E_bogus': expected one of E_vis, E_peak, CG_x, CG_y, n_active, E_pixel
    """
    from hepgen.evaluate.observables import IMAGE_OBSERVABLES
    from hepgen.data import ShowerFile

    size_list = [int(s) for s in sizes]
    # n_active is always computed: it counts showers, which per-pixel observables need to size subsets
    names = sorted({n for o in observables for n in o.split("+")} | {"n_active"})
    for n in names:
        if n not in IMAGE_OBSERVABLES:
            raise InputError(f"unknown observable {n!r}: expected one of {', '.join(IMAGE_OBSERVABLES)}")
    n_ref = len(ShowerFile(reference, geometry=geometry))
    n_pool = pool_size if pool_size is not None else min(max(size_list), n_ref // 2)
    if not 0 < n_pool < n_ref:
        raise InputError(f"reference has {n_ref} showers; cannot keep {n_pool} for subsets and the rest as truth",
                         file=str(reference))
    kept = [s for s in size_list if s <= n_pool]
    if len(kept) < len(size_list):
        status(f"reference pool has {n_pool} showers: dropping subset sizes {sorted(set(size_list) - set(kept))}")
    opts = dict(names=names, pool=pool, threshold=threshold, pixel_threshold=pixel_threshold, geometry=geometry)
    pool_obs = observables_of_file(reference, **opts, start=0, stop=n_pool)
    truth_obs = observables_of_file(reference, **opts, start=n_pool)
    trains = [observables_of_file(p, **opts) for p in train]
    gens = [observables_of_file(p, **opts, stop=max_generated) for p in generated]
    result = amplify_study(trains, gens, truth_obs, pool_obs, list(observables), kept, replicates,
                           max_n_quant=max_n_quant, baselines=[b for b in baselines if b.strip()],
                           n_baseline_samples=baseline_samples, hist_splits=hist_splits, seed=seed)
    result["inputs"] = {"train": [str(p) for p in train], "generated": [str(p) for p in generated],
                        "reference": str(reference), "n_reference_pool": n_pool, "n_truth": n_ref - n_pool,
                        "pool": pool, "threshold_mev": threshold, "pixel_threshold_mev": pixel_threshold}
    return result


def _in_showers(e, scale: float):
    from hepgen.amplify.equivalent import EquivalentSize

    return EquivalentSize(e.n_equiv / scale, e.low / scale, e.high / scale, e.bound, e.method)


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"


def study_markdown(result: dict) -> str:
    """A Markdown table: equivalent size and amplification factor per set and sample at the finest
    n_quant that is not sparse for the largest reference subset (where the calibration holds)."""
    lines = ["| observables | sample | n_quant | D̄_JS | N_equiv (subsets) | N_equiv (multinomial) | "
             "factor (subsets) | factor (multinomial) |", "|---|---|---|---|---|---|---|---|"]
    for obs_set, r in result["sets"].items():
        refs = [k for k in r["curves"] if k.startswith("reference")]
        calib = r["curves"][max(refs, key=lambda k: float(k.split()[1])) if refs else "generated"]
        ok = [j for j, s in enumerate(calib["sparse"]) if not s] or [0]
        j = ok[-1]
        for label, eq in r["equivalent"].items():
            c = r["curves"][label]
            sub = (eq["reference_subsets"][j] if eq["reference_subsets"]
                   else {"value": None, "bound": "", "factor": None})
            mul = eq["multinomial"][j]
            lines.append(f"| {obs_set} | {label} | {c['n_quant'][j]} | {c['mean'][j]:.3g} ± {c['std'][j]:.1g} | "
                         f"{sub['bound']}{_fmt(sub['value'])} | {_fmt(mul['value'])} | "
                         f"{sub['bound']}{_fmt(sub['factor'])} | "
                         f"{_fmt(mul['factor'])} |")
    return "\n".join(lines) + "\n"


def plot_set(obs_set: str, r: dict, path: Path) -> None:
    """Log-log D̄_JS vs n_quant, solid where non-sparse and dashed where sparse (Bieringer et al. 2022, Fig. 6)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, (label, c) in enumerate(r["curves"].items()):
        k, m, s = np.array(c["n_quant"]), np.array(c["mean"]), np.array(c["std"])
        sparse = np.array(c["sparse"])
        colour = "grey" if label.startswith("reference") else f"C{i % 10}"
        alpha = 0.4 + 0.6 * (i / max(len(r["curves"]) - 1, 1)) if label.startswith("reference") else 1.0
        dense = ~sparse
        last = int(np.flatnonzero(dense)[-1]) + 1 if dense.any() else 0
        ax.plot(k[:last], m[:last], "-", color=colour, alpha=alpha, label=label)
        ax.plot(k[max(last - 1, 0):], m[max(last - 1, 0):], "--", color=colour, alpha=alpha)
        ax.fill_between(k, np.maximum(m - s, 1e-12), m + s, color=colour, alpha=0.15 * alpha)
    ax.set(xscale="log", yscale="log", xlabel="number of quantiles", ylabel=r"$\bar D_{JS}$ [nats]", title=obs_set)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)


def write_study(result: dict, outdir: str | Path, overwrite: bool = False, plots: bool = True) -> list[Path]:
    """Write ``amplify.json``, ``amplify.md`` and ``amplify_<set>.png`` into ``outdir`` (atomically)."""
    from hepgen.data import atomic_path, check_writable

    outdir = Path(outdir)
    targets = [outdir / "amplify.json", outdir / "amplify.md"]
    pngs = {s: outdir / f"amplify_{s.replace('+', '_')}.png" for s in result["sets"]} if plots else {}
    for t in targets + list(pngs.values()):
        check_writable(t, overwrite)
    result = {**result, "date": _dt.date.today().isoformat()}
    with atomic_path(targets[0], overwrite) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    with atomic_path(targets[1], overwrite) as tmp:
        tmp.write_text(study_markdown(result))
    for s, png in pngs.items():
        with atomic_path(png, overwrite) as tmp:
            plot_set(s, result["sets"][s], tmp)
    return targets + list(pngs.values())


def toy_amplification_table(toy, samples: dict[str, list[np.ndarray]], coordinates: Sequence[tuple[int, ...]],
                            n_per_dim: Sequence[int], n_train: int) -> dict:
    """Per coordinate set and sample label (``train`` or a surrogate), one entry per ``n_per_dim``: quantile
    √MSE over the replicates and the amplification N_equiv / n_train from the multinomial expectation.

    ``samples[label]`` holds replicates already mapped to the unit cube (``toy.uniformise``). For every label
    but ``train`` the surrogate sample's own statistical noise (its size) is removed from N_equiv.
    """
    def factors(mse: np.ndarray, cells, n_samples: float) -> np.ndarray:
        inv = mse / expected_mse(cells.probabilities, 1.0) - 1.0 / n_samples
        return np.where(inv > 0, 1.0 / np.where(inv > 0, inv, 1.0), np.inf) / n_train

    rows: dict = {}
    for coords in coordinates:
        key = "+".join(toy.coordinate_names[c] for c in coords)
        rows[key] = {}
        for label, reps in samples.items():
            n_samples = np.inf if label == "train" else len(reps[0])
            entries = []
            for k in n_per_dim:
                cells = toy.cells(k, coords)
                rmse = np.array([quantile_mse(u[:, list(coords)], cells, root=True) for u in reps])
                fac = factors(rmse ** 2, cells, n_samples)
                finite = np.isfinite(fac)
                entries.append({"n_quant": int(cells.n_cells), "n_per_dim": int(k),
                                "rmse_mean": float(rmse.mean()),
                                "rmse_std": float(rmse.std(ddof=1)) if len(rmse) > 1 else 0.0,
                                "factor_mean": float(np.mean(fac[finite])) if finite.any() else None,
                                "factor_std": float(np.std(fac[finite], ddof=1)) if finite.sum() > 1 else 0.0,
                                "factor_from_mean_mse": float(factors(np.array([np.mean(rmse ** 2)]), cells,
                                                                      n_samples)[0]),
                                "n_unresolved": int((~finite).sum())})
            rows[key][label] = entries
    return rows


def toy_study(toy_name: str, n_per_dim: Sequence[int], baselines: Sequence[str] = ("kde", "hist", "fit"),
              repeats: int = 10, n_train: int | None = None, n_samples: int = 1_000_000,
              coordinates: Sequence[tuple[int, ...]] | None = None, hist_splits: int = 100, seed: int = 0) -> dict:
    """Quantile √MSE (Diefenbacher 2022, eq. 5.1.3) of baselines fitted to ``repeats`` toy training sets, and
    their amplification N_equiv / n_train from the multinomial expectation, per coordinate set
    (``(0,)`` = first coordinate alone, all coordinates = combined product cells) and ``n_per_dim``.

    >>> r = toy_study("camel", [10], baselines=["fit"], repeats=2, n_samples=20_000)
    >>> r["results"]["x"]["fit"][0]["factor_mean"] > 1
    True
    """
    from hepgen.amplify.toys import get_toy

    toy = get_toy(toy_name)
    n_train = toy.n_train if n_train is None else n_train
    dims = len(toy.coordinate_names)
    coordinates = [tuple(range(dims))] if coordinates is None else [tuple(c) for c in coordinates]
    rng = np.random.default_rng(seed)
    samples: dict[str, list[np.ndarray]] = {"train": []}
    for rep in range(repeats):
        x = toy.sample(n_train, rng)
        samples["train"].append(toy.uniformise(x))
        for name in baselines:
            if name == "fit" and toy.dim != 1:
                continue
            opts = {"n_splits": hist_splits} if name == "hist" else {}
            est = fit_baseline(name, x, seed=seed + rep, **opts)
            samples.setdefault(name, []).append(toy.uniformise(est.sample(n_samples, seed=seed + rep)))
    rows = toy_amplification_table(toy, samples, coordinates, n_per_dim, n_train)
    return {"toy": toy_name, "n_train": n_train, "repeats": repeats, "n_samples": n_samples, "results": rows}
