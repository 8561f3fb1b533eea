"""JetNet metrics: W1M, W1P, W1EFP, FPD, KPD (Kansal et al., arXiv:2106.11535 and arXiv:2211.10295).

Definitions follow B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024),
Sec. 5.3.1, and the public ``jetnet.evaluation`` defaults:

* W1M: 1-D Wasserstein-1 between relative jet masses (massless constituents), mean and std over
  ``num_batches`` resamplings (with replacement) of ``num_eval_samples`` jets (``num_batches=0``: the
  full samples once, std 0).
* W1P: the same per particle feature (eta_rel, phi_rel, pt_rel) over all real (mask = 1) particles, reported
  per feature and combined (:data:`COMBINATION`) by the plain mean over the features, as the JetNet
  tables do (jetnet's ``w1p(..., average_over_features=True)`` of versions before 0.2.5; Kansal et al.,
  arXiv:2106.11535; Käch and Melzer-Pellmann, arXiv:2305.15254), with the error the standard deviation over
  the resamplings of the per-resampling mean over features. The seed thesis' inverse-variance mean
  (:func:`inverse_variance_mean`, Eq. 5.8-5.9) is not used: on Pythia top jets it weighs pt_rel ~250x more
  than eta_rel, so it is W1 of pt_rel alone, and its error sqrt(1/sum w) is 10-30x smaller than the
  scatter of the combined value between seeds.
* W1EFP: the same per Energy Flow Polynomial (n = 4, d = 4, prime: 5 EFPs), combined likewise.
* FPD: Frechet distance on the 36 EFPs of degree <= 4, features divided by max |reference|, batch sizes
  evenly spaced in 1/N between ``min_samples`` and ``max_samples``, linear fit FD = a + b/N with a, b >= 0;
  returns (a, sigma_a).
* KPD: unbiased MMD^2 with the polynomial kernel (x.y/d + 1)^degree on the same normalised EFPs; median and
  half the 16.275-83.725 % spread over batches.

:func:`score_jets` reports them in the units of the tables of Käch 2024 (W1M, W1P x 1e3; W1EFP x 1e5; FPD, KPD x 1e4).
EFPs need ``energyflow`` (the ``hepgen[jets]`` extra), imported on first use.

>>> import numpy as np
>>> a = np.array([0.0, 1.0, 2.0]); b = a + 0.5
>>> round(w1(a, b), 6), w1(a, a)
(0.5, 0.0)
>>> inverse_variance_mean([1.0, 3.0], [1.0, 1.0])
(2.0, 0.7071067811865476)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from hepgen.evaluate.distances import fpd, frechet_distance, kpd, mmd_poly_unbiased
from hepgen.evaluate.metrics import w1
from hepgen.data.jets import JetData
from hepgen.errors import InputError

__all__ = ["UNITS", "COMBINATION", "PARTICLE_FEATURES", "combine_features", "w1", "inverse_variance_mean",
           "relative_mass", "efps", "w1m", "w1p", "w1efp",
           "efp_graphs", "frechet_distance", "fpd", "mmd_poly_unbiased", "kpd", "fpd_kpd_features", "score_jets",
           "evaluate_jets", "format_table", "format_details", "rows_as_json"]

#: metric -> factor of the tables of Käch 2024
UNITS = {"W1M": 1e3, "W1P": 1e3, "W1EFP": 1e5, "KPD": 1e4, "FPD": 1e4}

#: the particle features of W1P, in the JetNet order
PARTICLE_FEATURES = ("eta_rel", "phi_rel", "pt_rel")

#: how W1P and W1EFP combine their per-feature values (written into metrics.json)
COMBINATION = ("plain mean over the features of the per-feature W1 (mean over resamplings), as in the JetNet "
               "tables (Kansal et al. arXiv:2106.11535; jetnet < 0.2.5 w1p(average_over_features=True)); error: "
               "standard deviation over the resamplings of the per-resampling mean over features")


def combine_features(per_batch: np.ndarray) -> tuple[float, float]:
    """Combined W1 of a (num_batches, n_features) array of per-resampling values: (mean over features of
    the per-feature means, standard deviation over resamplings of the mean over features).

    >>> combine_features(np.array([[1.0, 3.0], [3.0, 5.0]]))   # per-batch means 2 and 4
    (3.0, 1.0)
    """
    v = np.atleast_2d(np.asarray(per_batch, float))
    return float(v.mean()), float(np.std(v.mean(axis=1)))


def inverse_variance_mean(values: Sequence[float], sigmas: Sequence[float]) -> tuple[float, float]:
    """Inverse-variance weighted mean and its uncertainty sqrt(1 / sum w), w = 1/sigma^2 (thesis Eq. 5.8-5.9).

    Zero sigmas are replaced by the smallest positive one (or 1 if all are zero).
    """
    v, s = np.asarray(values, float), np.asarray(sigmas, float)
    pos = s[s > 0]
    s = np.where(s > 0, s, pos.min() if len(pos) else 1.0)
    w = 1 / s**2
    return float((v * w).sum() / w.sum()), float(np.sqrt(1 / w.sum()))


def _particles(jets: JetData | np.ndarray) -> np.ndarray:
    p = jets.particles if isinstance(jets, JetData) else np.asarray(jets, np.float32)
    if p.ndim != 3 or p.shape[-1] < 3:
        raise InputError(f"jets: expected (N, n_particles, 3 or 4) (eta_rel, phi_rel, pt_rel[, mask]), got {p.shape}")
    if p.shape[-1] == 3:
        p = np.concatenate([p, (p[..., 2:3] > 0).astype(np.float32)], axis=-1)
    return p


def relative_mass(jets: JetData | np.ndarray) -> np.ndarray:
    """(N,) relative jet mass m/pT of the (massless) constituents."""
    p = _particles(jets)
    return JetData(p[..., :4]).relative_jet_features()[:, 2].astype(np.float64)


def _import_energyflow():
    """energyflow, importable even where its optional EMD dependency (``wasserstein``) is broken.

    energyflow imports ``wasserstein`` only for EMDs, which hepgen does not use; a ``wasserstein`` built
    against another numpy major version fails to import, so an empty placeholder module is put in its
    place in that case.
    """
    import sys

    if "energyflow" not in sys.modules:
        import contextlib
        import io
        import types

        try:
            with contextlib.redirect_stderr(io.StringIO()):
                import wasserstein  # noqa: F401
        except (ImportError, AttributeError):
            for name in [m for m in sys.modules if m == "wasserstein" or m.startswith("wasserstein.")]:
                del sys.modules[name]
            sys.modules["wasserstein"] = types.ModuleType("wasserstein")
    import energyflow

    return energyflow


@lru_cache(maxsize=8)
def efp_graphs(efpset_args: tuple = (("d<=", 4),)) -> tuple[tuple[int, tuple[tuple[int, int], ...]], ...]:
    """The EFP multigraphs selected by ``efpset_args`` from energyflow's ``EFPSet``: (n_vertices, edges) each.

    >>> len(efp_graphs((("d<=", 4),))), efp_graphs((("n==", 4), ("d==", 4), ("p==", 1)))[0][0]
    (36, 4)
    """
    ef = _import_energyflow()
    efpset = ef.EFPSet(*efpset_args, measure="hadr", beta=1, normed=None, coords="ptyphim")
    return tuple((int(n), tuple(tuple(int(v) for v in e) for e in g))
                 for n, g in zip(efpset.specs[:, 0], efpset.graphs()))


def _components(n_vertices: int, edges: tuple[tuple[int, int], ...]) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """Connected components of a multigraph as (vertices, edges); an EFP factorises over them."""
    parent = list(range(n_vertices))

    def root(v: int) -> int:
        while parent[v] != v:
            v = parent[v]
        return v

    for a, b in edges:
        parent[root(a)] = root(b)
    groups: dict[int, tuple[list[int], list[tuple[int, int]]]] = {}
    for v in range(n_vertices):
        groups.setdefault(root(v), ([], []))[0].append(v)
    for e in edges:
        groups[root(e[0])][1].append(e)
    return list(groups.values())


@lru_cache(maxsize=256)
def _contraction(n_vertices: int, edges: tuple[tuple[int, int], ...]) -> tuple[list[str], list[int], list]:
    """Subscripts, operand kinds (0 = z, k = theta**k) and numpy's optimal pairwise contraction path."""
    letters = "ijklmnopq"
    count: dict[tuple[int, int], int] = {}
    for a, b in edges:
        count[(min(a, b), max(a, b))] = count.get((min(a, b), max(a, b)), 0) + 1
    terms = [f"b{letters[v]}" for v in range(n_vertices)] + [f"b{letters[a]}{letters[b]}" for a, b in count]
    kinds = [0] * n_vertices + list(count.values())
    shapes = [np.empty((256, 100) if k == 0 else (256, 100, 100), np.float32) for k in kinds]
    path = np.einsum_path(",".join(terms) + "->b", *shapes, optimize="greedy")[0][1:]
    return terms, kinds, path


def _einsum_efp(z, theta_pow: list, n_vertices: int, edges: tuple[tuple[int, int], ...]):
    """One EFP for a batch of torch tensors z (B, n), theta**k (B, n, n): a product over connected
    components, each contracted pairwise (torch batched matmuls) along numpy's optimal path."""
    import torch

    value = torch.ones(z.shape[0], dtype=z.dtype)
    for vertices, comp in _components(n_vertices, edges):
        remap = {v: i for i, v in enumerate(vertices)}
        terms, kinds, path = _contraction(len(vertices), tuple((remap[a], remap[b]) for a, b in comp))
        ops = [z if k == 0 else theta_pow[k] for k in kinds]
        terms = list(terms)
        for pair in path:
            picked = [(terms[i], ops[i]) for i in pair]
            for i in sorted(pair, reverse=True):
                del terms[i], ops[i]
            keep = set("b").union(*terms) if terms else {"b"}
            letters = "".join(sorted(set("".join(t for t, _ in picked)) & keep, key="bijklmnopq".index))
            ops.append(torch.einsum(",".join(t for t, _ in picked) + "->" + letters, *[o for _, o in picked]))
            terms.append(letters)
        value = value * ops[0]
    return value


def efps(jets: JetData | np.ndarray, efpset_args: Sequence = (("d<=", 4),), batch_size: int = 256,
         backend: str = "batched") -> np.ndarray:
    """(N, n_efp) Energy Flow Polynomials (hadronic measure, beta = 1, unnormalised, as jetnet).

    The graphs come from energyflow's ``EFPSet``. ``backend="batched"`` evaluates them with one
    ``torch.einsum`` per connected component of each graph over ``batch_size`` jets (z_i = pt_rel,
    theta_ij = sqrt(dy^2 + dphi^2),
    dphi wrapped), about 10x faster than ``backend="energyflow"`` (energyflow's own per-jet
    ``batch_compute``), with which it agrees to rounding. Masked particles get pt = 0.
    """
    p = _particles(jets)
    pt = np.where(p[..., 3] > 0.5, p[..., 2], 0.0).astype(np.float64)
    if backend == "energyflow":
        ef = _import_energyflow()
        x = np.stack([pt, p[..., 0], p[..., 1]], axis=-1).astype(np.float64)
        efpset = ef.EFPSet(*efpset_args, measure="hadr", beta=1, normed=None, coords="ptyphim")
        return np.asarray(efpset.batch_compute(x, n_jobs=1), np.float64)
    if backend != "batched":
        raise InputError(f"unknown EFP backend '{backend}': expected 'batched' or 'energyflow'")
    import torch

    graphs = efp_graphs(tuple(tuple(a) for a in efpset_args))
    max_mult = max((sum(1 for f in e if set(f) == set(g)) for _, e in graphs for g in e), default=1)
    out = np.zeros((len(p), len(graphs)))
    by_size = np.argsort((pt > 0).sum(axis=1), kind="stable")  # batch jets of similar multiplicity
    p, pt = p[by_size], pt[by_size]
    for start in range(0, len(p), batch_size):
        z = pt[start:start + batch_size]
        n_real = int((z > 0).sum(axis=1).max()) if z.size else 0
        order = np.argsort(-z, axis=1, kind="stable")[:, :max(n_real, 1)]
        z = np.take_along_axis(z, order, 1)
        y = np.take_along_axis(p[start:start + batch_size, :, 0].astype(np.float64), order, 1)
        phi = np.take_along_axis(p[start:start + batch_size, :, 1].astype(np.float64), order, 1)
        dphi = np.abs(phi[:, :, None] - phi[:, None, :])
        theta = np.sqrt((y[:, :, None] - y[:, None, :]) ** 2 + (np.pi - np.abs(dphi - np.pi)) ** 2)
        theta_t = torch.from_numpy(theta)
        theta_pow = [torch.ones_like(theta_t)] + [theta_t**k for k in range(1, max_mult + 1)]
        z_t = torch.from_numpy(np.ascontiguousarray(z))
        for k, (nv, edges) in enumerate(graphs):
            out[by_size[start:start + len(z)], k] = _einsum_efp(z_t, theta_pow, nv, edges).numpy()
    return out


def _w1_batches(a: np.ndarray, b: np.ndarray, num_eval_samples: int, num_batches: int,
                rng: np.random.Generator) -> np.ndarray:
    """(num_batches, k) W1 per column of (N, k) arrays, each batch ``num_eval_samples`` rows of each drawn
    with replacement (reference first, as jetnet draws); num_batches = 0: the full samples once (1, k)."""
    if num_batches == 0:
        return np.array([[w1(a[:, k], b[:, k]) for k in range(a.shape[1])]])
    vals = []
    for _ in range(num_batches):
        i, j = rng.choice(len(a), num_eval_samples), rng.choice(len(b), num_eval_samples)
        vals.append([w1(a[i, k], b[j, k]) for k in range(a.shape[1])])
    return np.array(vals)


def _mean_std(per_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std over batches (std 0 for a single full-sample batch)."""
    return per_batch.mean(axis=0), per_batch.std(axis=0)


def w1m(ref: JetData | np.ndarray, gen: JetData | np.ndarray, num_eval_samples: int = 50_000,
        num_batches: int = 5, seed: int = 42) -> tuple[float, float]:
    """W1 of the relative jet mass: (mean, std) over ``num_batches`` resamplings."""
    m, s = _mean_std(_w1_batches(relative_mass(ref)[:, None], relative_mass(gen)[:, None], num_eval_samples,
                                 num_batches, np.random.default_rng(seed)))
    return float(m[0]), float(s[0])


def _w1p_batches(ref: JetData | np.ndarray, gen: JetData | np.ndarray, num_eval_samples: int, num_batches: int,
                 seed: int) -> np.ndarray:
    """(num_batches, 3) W1 per particle feature over the real particles of each resampling."""
    pr, pg = _particles(ref), _particles(gen)
    if num_batches == 0:
        a, b = pr[pr[..., 3] > 0.5][:, :3], pg[pg[..., 3] > 0.5][:, :3]
        return np.array([[w1(a[:, k], b[:, k]) for k in range(3)]])
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(num_batches):
        a = pr[rng.choice(len(pr), num_eval_samples)]
        b = pg[rng.choice(len(pg), num_eval_samples)]
        a, b = a[a[..., 3] > 0.5][:, :3], b[b[..., 3] > 0.5][:, :3]
        vals.append([w1(a[:, k], b[:, k]) if len(a) and len(b) else np.inf for k in range(3)])
    return np.array(vals)


def w1p(ref: JetData | np.ndarray, gen: JetData | np.ndarray, num_eval_samples: int = 50_000,
        num_batches: int = 5, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """W1 per particle feature (eta_rel, phi_rel, pt_rel) over real particles: (means[3], stds[3]), as
    ``jetnet.evaluation.w1p`` returns them."""
    return _mean_std(_w1p_batches(ref, gen, num_eval_samples, num_batches, seed))


def w1efp(ref: JetData | np.ndarray, gen: JetData | np.ndarray, num_eval_samples: int = 50_000,
          num_batches: int = 5, seed: int = 42, efpset_args: Sequence = (("n==", 4), ("d==", 4), ("p==", 1)),
          ref_efps: np.ndarray | None = None, gen_efps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """W1 per EFP (default n = 4, d = 4, prime: 5 EFPs): (means, stds). Precomputed EFPs may be passed."""
    a = efps(ref, efpset_args) if ref_efps is None else ref_efps
    b = efps(gen, efpset_args) if gen_efps is None else gen_efps
    return _mean_std(_w1_batches(a, b, num_eval_samples, num_batches, np.random.default_rng(seed)))


def _W1EFP_GRAPHS() -> tuple:
    """The 5 W1EFP graphs (n = 4, d = 4, prime); all are members of the d <= 4 set."""
    return efp_graphs((("n==", 4), ("d==", 4), ("p==", 1)))


def fpd_kpd_features(jets: JetData | np.ndarray) -> np.ndarray:
    """(N, 36) EFPs of degree <= 4, the FPD/KPD features."""
    return efps(jets, (("d<=", 4),))


def score_jets(ref: JetData, gen: JetData, num_eval_samples: int = 50_000, num_batches: int = 5,
               fpd_min_samples: int = 20_000, fpd_max_samples: int = 50_000, kpd_batch_size: int = 5_000,
               seed: int = 42, _cache: dict | None = None) -> dict:
    """All five metrics of ``gen`` against ``ref``, as (value, uncertainty) in the units of Käch 2024's tables,
    plus ``"details"``: per-feature W1P (eta_rel, phi_rel, pt_rel) and per-EFP W1EFP values, the
    combination convention, FPD/KPD notes (NaN reasons, left-out features) and sample-size warnings.

    jetnet's defaults: W1 on 5 resamplings of 50 000 jets, FPD 20 batches at 10 sizes from 20 000 to
    50 000, KPD 10 batches of 5000, seed 42. NaN where a distance cannot be computed.
    """
    from hepgen.evaluate.distances import RECOMMENDED_SAMPLES

    cache = {} if _cache is None else _cache

    def features(j: JetData) -> tuple[np.ndarray, np.ndarray]:
        if id(j) not in cache:
            all36 = fpd_kpd_features(j)
            cache[id(j)] = (all36[:, [k for k, g in enumerate(efp_graphs()) if g in _W1EFP_GRAPHS()]], all36)
        return cache[id(j)]

    (er, fr), (eg, fg) = features(ref), features(gen)
    out: dict = {}
    m, s = w1m(ref, gen, num_eval_samples, num_batches, seed)
    out["W1M"] = (m, s)
    p_batches = _w1p_batches(ref, gen, num_eval_samples, num_batches, seed)
    out["W1P"] = combine_features(p_batches)
    e_batches = _w1_batches(er, eg, num_eval_samples, num_batches, np.random.default_rng(seed))
    out["W1EFP"] = combine_features(e_batches)
    k = kpd(fr, fg, batch_size=kpd_batch_size, seed=seed)
    f = fpd(fr, fg, fpd_min_samples, fpd_max_samples, seed=seed)
    out["KPD"], out["FPD"] = tuple(k), tuple(f)
    rows = {key: (v * UNITS[key], e * UNITS[key]) for key, (v, e) in out.items()}
    pm, ps = _mean_std(p_batches)
    em, es = _mean_std(e_batches)
    warnings = []
    if min(len(ref), len(gen)) < RECOMMENDED_SAMPLES:
        warnings.append(f"{len(ref)} reference and {len(gen)} generated jets, below the {RECOMMENDED_SAMPLES} that "
                        "jetnet recommends: resamplings repeat jets, single tail jets dominate FPD/KPD, and the "
                        "values are not comparable with published tables")
    rows["details"] = {
        "n_reference": len(ref), "n_generated": len(gen),
        "W1P_per_feature": {name: (float(a) * UNITS["W1P"], float(b) * UNITS["W1P"])
                            for name, a, b in zip(PARTICLE_FEATURES, pm, ps)},
        "W1EFP_per_efp": [(float(a) * UNITS["W1EFP"], float(b) * UNITS["W1EFP"]) for a, b in zip(em, es)],
        "combination": COMBINATION,
        "FPD": {key: v for key, v in f.notes.items()}, "KPD": {key: v for key, v in k.notes.items()},
        "warnings": warnings,
    }
    return rows


def evaluate_jets(ref: JetData, gens: dict[str, JetData], ref2: JetData | None = None,
                  **kwargs) -> dict[str, dict[str, tuple[float, float]]]:
    """Metric rows for each generated sample plus the in-sample ``IN`` row.

    IN compares two independent reference samples: ``ref`` and ``ref2`` if given, else the two halves
    of ``ref`` (then the model rows use the first half as reference, so IN and models see equal N).
    """
    if ref2 is None:
        if len(ref) < 4:
            raise InputError(f"reference holds {len(ref)} jets; need at least 4 to split it for the IN row")
        half = len(ref) // 2
        ref, ref2 = ref[:half], ref[half:2 * half]
    cache: dict = {}
    rows = {name: score_jets(ref, gen, _cache=cache, **kwargs) for name, gen in gens.items()}
    rows["IN"] = score_jets(ref, ref2, _cache=cache, **kwargs)
    return rows


def _fmt(v: float, e: float) -> str:
    if not np.isfinite(e) or e <= 0:
        return f"{v:.3g}"
    digits = max(0, -int(np.floor(np.log10(e))) + (1 if f"{e:.1e}"[0] == "1" else 0))
    return f"{v:.{digits}f} ± {e:.{digits}f}"


def format_table(rows: dict[str, dict[str, tuple[float, float]]]) -> str:
    """Markdown table in the layout of Käch 2024, Tables 5.3/5.5 (W1M, W1P x1e3; W1EFP x1e5; KPD, FPD x1e4).

    >>> print(format_table({"IN": {"W1M": (0.31, 0.07), "W1P": (0.2, 0.03), "W1EFP": (0.47, 0.09),
    ...                            "KPD": (-0.13, 0.06), "FPD": (0.7, 0.3)}}).splitlines()[2])
    | IN | 0.31 ± 0.07 | 0.20 ± 0.03 | 0.47 ± 0.09 | -0.13 ± 0.06 | 0.7 ± 0.3 |
    """
    names = ["W1M", "W1P", "W1EFP", "KPD", "FPD"]
    head = "| Model | W1M ×10³ | W1P ×10³ | W1EFP ×10⁵ | KPD ×10⁴ | FPD ×10⁴ |"
    lines = [head, "|---|---|---|---|---|---|"]
    for model, r in rows.items():
        lines.append("| " + " | ".join([model] + [_fmt(*r[n]) for n in names]) + " |")
    return "\n".join(lines)


def format_details(rows: dict[str, dict]) -> str:
    """The per-feature W1P values, the sample sizes, the combination convention and every FPD/KPD
    problem or warning of :func:`evaluate_jets`' rows, as text lines under the table.

    >>> rows = {"IN": {"details": {"n_reference": 10, "n_generated": 10, "combination": "plain mean",
    ...         "W1P_per_feature": {"eta_rel": (1.0, 0.1), "phi_rel": (2.0, 0.2), "pt_rel": (3.0, 0.3)},
    ...         "FPD": {"reason": None}, "KPD": {"reason": None}, "warnings": []}}}
    >>> print(format_details(rows))
    W1P ×10³ per feature (combined: plain mean)
    IN (10 / 10 jets): eta_rel 1.00 ± 0.10, phi_rel 2.0 ± 0.2, pt_rel 3.0 ± 0.3
    """
    lines = []
    for model, r in rows.items():
        d = r.get("details")
        if not d:
            continue
        if not lines:
            lines.append(f"W1P ×10³ per feature (combined: {d['combination']})")
        per = ", ".join(f"{k} {_fmt(*v)}" for k, v in d["W1P_per_feature"].items())
        lines.append(f"{model} ({d['n_reference']} / {d['n_generated']} jets): {per}")
        for key in ("FPD", "KPD"):
            if d[key].get("reason"):
                lines.append(f"{model}: {key} not computed: {d[key]['reason']}")
            for e in d[key].get("excluded_features") or []:
                lines.append(f"{model}: {key}: EFP {e['name']} left out: {e['reason']}")
        lines += [f"{model}: warning: {w}" for w in d.get("warnings", [])]
    return "\n".join(lines)


def rows_as_json(rows: dict[str, dict]) -> dict[str, dict]:
    """:func:`evaluate_jets`' rows in the layout of ``metrics.json``: per model, each metric as
    ``{"value", "error"}`` in the table units (W1M, W1P x1e3; W1EFP x1e5; KPD, FPD x1e4), FPD and KPD
    with their notes (``reason`` where NaN, left-out features, settings), per-feature W1P and per-EFP
    W1EFP values, sizes and warnings.

    >>> r = rows_as_json({"IN": {"W1M": (1.0, 0.1), "details": {"W1P_per_feature": {"eta_rel": (2.0, 0.2)},
    ...                  "W1EFP_per_efp": [], "FPD": {}, "KPD": {}}}})
    >>> r["IN"]["W1M"], r["IN"]["W1P_per_feature"]
    ({'value': 1.0, 'error': 0.1}, {'eta_rel': {'value': 2.0, 'error': 0.2}})
    """
    out = {}
    for model, r in rows.items():
        d = dict(r.get("details", {}))
        entry: dict = {}
        for key in ("W1M", "W1P", "W1EFP", "KPD", "FPD"):
            if key in r:
                entry[key] = {"value": r[key][0], "error": r[key][1]}
                if key in ("KPD", "FPD"):
                    entry[key]["notes"] = d.pop(key, {})
        entry["W1P_per_feature"] = {k: {"value": v, "error": e} for k, (v, e) in d.pop("W1P_per_feature", {}).items()}
        entry["W1EFP_per_efp"] = [{"value": v, "error": e} for v, e in d.pop("W1EFP_per_efp", [])]
        d.pop("FPD", None), d.pop("KPD", None)
        entry.update(d)
        out[model] = entry
    return out
