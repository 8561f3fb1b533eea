"""Analysis-level morphing and discovery significance: B. Käch, "Generative Modelling in High-Energy Physics", PhD
thesis, U. Hamburg / DESY (2024), Sec. 7.2, on the public Pythia analogue of :mod:`hepgen.simulate.susy`.

An OT-CFM (:class:`hepgen.studies.morphing.TransportField`) transports the 15 analysis features of the signal at
chargino mass mixing ε = 25 % (t = 0) to ε = 75 % (t = 1) and back with the same field; ε = 50 % is never used to
train it. Checkpoints are selected by the histogram distance ⟨S²⟩ plus the mean ECDF distance (Eqs. 7.7-7.8;
:func:`hepgen.evaluate.distances.histogram_s2`, :func:`~hepgen.evaluate.distances.ecdf_distance`), averaged over the
marginals of the forward (at ε = 75 %) and backward (at ε = 25 %) transport of validation events. A focal-loss
classifier (γ = 1.75, 4 × 64, AdamW, lr 1e-3, weight decay 5e-5, batch 1024: Table 7.3) separates signal from the
t t̄ / W + jets background, trained by three paradigms with the same number of signal events:

* ``baseline`` — MC signal at ε = 25 % and 75 %;
* ``interpolation`` — CNF events, half transported forwards from ε = 25 % and half backwards from ε = 75 %, each
  taken at a time drawn uniformly from the 200 steps of its ODE solution;
* ``sanity`` — MC signal at ε = 25 %, 50 % and 75 %.

Every batch holds equal numbers of signal and background events drawn with replacement ∝ the event weights.
Checkpoint: the smallest luminosity for Z = 3 on the validation set (MC background + ε = 25/75 % signal). Test:
held-out background + ε = 50 % signal; the 3-bin Asimov significance (:mod:`hepgen.evaluate.significance`) with the
bins fixed on the validation background and the luminosity needed for Z = 3; ``repeats`` retrainings give the
mean ± error of the mean. The thesis's φ^miss reweighting of the signal (Eq. 7.9) corrects a CMS FastSim artefact
(no beam-spot spread) that the Pythia analogue does not have, and is left out.

Preprocessing (Sec. 2.6 of the thesis's Ch. 7 setup): Box-Cox (fitted λ, on x + 1 GeV) and standard scaling of the
momenta, masses, H_T and p_T^miss; standard scaling of the η; n_jets dequantised with U(0, 1) noise, then standard
scaling; the φ's through the exact probability integral transform of a uniform angle, z = Φ⁻¹((φ + π) / 2π).
"""

from __future__ import annotations

import math
import time
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from hepgen.evaluate.distances import ecdf_distance, histogram_s2
from hepgen.evaluate.significance import binned_yields, luminosity_for_significance, three_bin_edges
from hepgen.models.objectives import optimizer_step
from hepgen.studies.morphing import TransportField, train_focal_classifier
from hepgen.studies.toymodels import warmup_cosine

__all__ = ["FeatureScaler", "morph_distance", "train_morph", "PARADIGMS", "susy_morphing_study",
           "susy_morphing_table"]

PARADIGMS = ("baseline", "interpolation", "sanity")
_BOX_COX = ("lep_pt", "jet1_pt", "jet2_pt", "ht", "jet1_mass", "jet2_mass", "met")
_ANGLES = ("lep_phi", "jet1_phi", "jet2_phi", "met_phi")
_COUNTS = ("n_jets",)


class FeatureScaler:
    """The preprocessing of the module docstring, fitted on (n, 15) analysis features.

    >>> from hepgen.simulate.susy import FEATURES
    >>> rng = np.random.default_rng(0)
    >>> x = np.abs(rng.normal(300, 100, (500, len(FEATURES))))
    >>> x[:, FEATURES.index("n_jets")] = rng.integers(5, 9, 500)
    >>> for name in ("lep_phi", "jet1_phi", "jet2_phi", "met_phi"):
    ...     x[:, FEATURES.index(name)] = rng.uniform(-np.pi, np.pi, 500)
    >>> s = FeatureScaler(FEATURES).fit(x)
    >>> z = s.transform(x, np.random.default_rng(1))
    >>> bool(np.allclose(s.inverse(z), x, rtol=1e-4, atol=1e-3)), bool(np.abs(z.mean(0)).max() < 0.1)
    (True, True)
    """

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        self.lam: dict[int, float] = {}
        self.mean = np.zeros(len(self.names))
        self.std = np.ones(len(self.names))

    def _box_cox(self, x: np.ndarray, lam: float) -> np.ndarray:
        y = np.maximum(x, 0.0) + 1.0
        return np.log(y) if abs(lam) < 1e-6 else (y ** lam - 1) / lam

    def _raw(self, x: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        from scipy.special import ndtri

        z = np.array(x, np.float64, copy=True)
        for j, name in enumerate(self.names):
            if j in self.lam:
                z[:, j] = self._box_cox(z[:, j], self.lam[j])
            elif name in _ANGLES:
                z[:, j] = ndtri(np.clip((z[:, j] + np.pi) / (2 * np.pi), 1e-6, 1 - 1e-6))
            elif name in _COUNTS:
                z[:, j] = z[:, j] + (rng.uniform(0, 1, len(z)) if rng is not None else 0.5)
        return z

    def fit(self, x: np.ndarray) -> "FeatureScaler":
        from scipy.stats import boxcox

        for j, name in enumerate(self.names):
            if name in _BOX_COX:
                self.lam[j] = float(boxcox(np.maximum(x[:, j], 0.0) + 1.0)[1])
        raw = self._raw(x, np.random.default_rng(0))
        self.mean, self.std = raw.mean(0), np.maximum(raw.std(0), 1e-9)
        return self

    def transform(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Physical features -> network space (n_jets dequantised with ``rng``; mid-bin without)."""
        return ((self._raw(x, rng) - self.mean) / self.std).astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Network space -> physical features (n_jets rounded down, angles in [−π, π))."""
        from scipy.special import ndtr

        x = np.asarray(z, np.float64) * self.std + self.mean
        for j, name in enumerate(self.names):
            if j in self.lam:
                lam = self.lam[j]
                y = np.exp(x[:, j]) if abs(lam) < 1e-6 else np.maximum(lam * x[:, j] + 1, 1e-12) ** (1 / lam)
                x[:, j] = y - 1.0
            elif name in _ANGLES:
                x[:, j] = ndtr(x[:, j]) * 2 * np.pi - np.pi
            elif name in _COUNTS:
                x[:, j] = np.floor(x[:, j])
        return x

    def state(self) -> dict[str, Any]:
        return {"names": self.names, "lambda": {self.names[j]: v for j, v in self.lam.items()},
                "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "FeatureScaler":
        s = cls(state["names"])
        s.lam = {s.names.index(k): float(v) for k, v in state["lambda"].items()}
        s.mean, s.std = np.array(state["mean"]), np.array(state["std"])
        return s


def morph_distance(reference: np.ndarray, other: np.ndarray, bins: int = 50) -> dict[str, float]:
    """⟨S²⟩ and the mean ECDF distance averaged over the marginals (columns) of two samples (Eqs. 7.7-7.8).

    >>> x = np.random.default_rng(0).normal(size=(2000, 3))
    >>> d = morph_distance(x, x + 1.0)
    >>> d["s2"] > 0.1 and d["ecdf"] > 0.1 and morph_distance(x, x)["s2"] == 0.0
    True
    """
    s2 = [histogram_s2(reference[:, j], other[:, j], bins) for j in range(reference.shape[1])]
    ec = [ecdf_distance(reference[:, j], other[:, j], bins) for j in range(reference.shape[1])]
    return {"s2": float(np.mean(s2)), "ecdf": float(np.mean(ec))}


def train_morph(source: np.ndarray, target: np.ndarray, steps: int = 3000, batch_size: int = 256,
                width: int = 256, layers: int = 4, lr: float = 1e-3, weight_decay: float = 5e-5, seed: int = 0,
                validation: tuple[np.ndarray, np.ndarray] | None = None, n_checks: int = 10, ode_steps: int = 50
                ) -> tuple[TransportField, dict[str, Any]]:
    """Train an OT-CFM field from ``source`` (t = 0) to ``target`` (t = 1), network-space arrays (n, d): batches
    drawn independently from both, minibatch OT pairs, AdamW with warm-up and cosine annealing. With
    ``validation`` = (source, target) the state with the smallest ⟨S²⟩ + ECDF distance, averaged over the forward
    and backward transport (``ode_steps`` midpoint steps), is kept (checked ``n_checks`` times).

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(0, 1, (400, 2)).astype(np.float32), rng.normal(3, 1, (400, 2)).astype(np.float32)
    >>> field, info = train_morph(a, b, steps=200, width=32, validation=(a, b), n_checks=2)
    >>> bool(abs(field.transport(torch.from_numpy(a)).numpy().mean() - 3) < 0.5), info["best_step"] in (100, 200)
    (True, True)
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    x0, x1 = torch.from_numpy(np.asarray(source, np.float32)), torch.from_numpy(np.asarray(target, np.float32))
    field = TransportField(x0.shape[1], "ot", width=width, layers=layers)
    opt = torch.optim.AdamW(field.parameters(), lr=lr, weight_decay=weight_decay)
    sched = warmup_cosine(opt, steps)
    checks = set(np.linspace(steps / n_checks, steps, n_checks).round().astype(int).tolist()) if validation else set()
    best, best_state, best_step, history = math.inf, None, steps, []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        i0 = torch.randint(0, len(x0), (batch_size,), generator=gen)
        i1 = torch.randint(0, len(x1), (batch_size,), generator=gen)
        optimizer_step(field.pair_loss(x0[i0], x1[i1]), opt)
        sched.step()
        if step in checks:
            assert validation is not None
            v0, v1 = (torch.from_numpy(np.asarray(v, np.float32)) for v in validation)
            fwd = morph_distance(v1.numpy(), field.transport(v0, 1.0, ode_steps).numpy())
            bwd = morph_distance(v0.numpy(), field.transport(v1, 0.0, ode_steps, t0=1.0).numpy())
            score = (fwd["s2"] + fwd["ecdf"] + bwd["s2"] + bwd["ecdf"]) / 2
            history.append({"step": step, "forward": fwd, "backward": bwd, "score": score})
            if score < best:
                best, best_step = score, step
                best_state = {k: v.clone() for k, v in field.state_dict().items()}
    if best_state is not None:
        field.load_state_dict(best_state)
    return field, {"steps": steps, "best_step": best_step, "best_score": best if validation else None,
                   "history": history, "seconds": time.perf_counter() - start}


def _split(n: int, fractions: Sequence[float], rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    cuts = np.cumsum([int(round(f * n)) for f in fractions[:-1]])
    return np.split(order, cuts)


def _background(files: Sequence[Any], min_jets: int) -> dict[str, np.ndarray]:
    """Background events of several files; weights renormalised per sample kind (process and p̂_T slice) so that
    files of the same kind add up to its cross section (each file's weights are σ / its own events generated)."""
    from hepgen.simulate.susy import load_susy_events

    loaded = [load_susy_events(f, min_jets=min_jets) for f in files]
    def kind(ev: dict[str, Any]) -> tuple:
        st = ev["meta"]["settings"]
        return st["process"], st.get("pthat_min"), st.get("pthat_max")

    generated: dict[tuple, int] = {}
    for ev in loaded:
        generated[kind(ev)] = generated.get(kind(ev), 0) + ev["meta"]["n_accepted_by_pythia"]
    feats, weights, procs = [], [], []
    for ev in loaded:
        proc = ev["meta"]["settings"]["process"]
        feats.append(ev["features"])
        weights.append(ev["weight_fb"] * ev["meta"]["n_accepted_by_pythia"] / generated[kind(ev)])
        procs += [proc] * len(ev["weight_fb"])
    return {"features": np.concatenate(feats), "weight_fb": np.concatenate(weights), "process": np.array(procs)}


def _luminosity(sig_scores: np.ndarray, sig_w: np.ndarray, bkg_scores: np.ndarray, bkg_w: np.ndarray,
                edges: np.ndarray, target: float) -> tuple[float, dict[str, Any]]:
    """fb⁻¹ for Z = ``target`` from weights in fb (yields per fb⁻¹); bins without MC background get the smallest
    background event weight (less than one MC event)."""
    s, _ = binned_yields(sig_scores, sig_w, edges)
    b, sigma_b = binned_yields(bkg_scores, bkg_w, edges)
    b = np.maximum(b, float(bkg_w[bkg_w > 0].min()))
    lumi = luminosity_for_significance(s, b, sigma_b, luminosity=1.0, target=target)
    return lumi, {"s_fb": s.tolist(), "b_fb": b.tolist(), "sigma_b_fb": sigma_b, "edges": edges.tolist()}


def susy_morphing_study(signal_files: Mapping[float, Any], background_files: Sequence[Any], morph_steps: int = 3000,
                        classifier_steps: int = 1500, repeats: int = 10, n_time_steps: int = 200, gamma: float = 1.75,
                        target_z: float = 3.0, min_jets: int = 5, morph_width: int = 256, seed: int = 0
                        ) -> dict[str, Any]:
    """The study of the module docstring. ``signal_files`` maps ε (0.25, 0.5, 0.75) to
    :func:`hepgen.simulate.susy.simulate_susy` files, ``background_files`` the t t̄ / W + jets files; all events in
    the signal region (n_jets ≥ ``min_jets``). Splits: signal at ε = 25/75 % — 50 % training (classifier and CNF),
    50 % validation; ε = 50 % — 50 % training (sanity only), 50 % test; background 50/25/25 % training / validation
    / test (weights scaled up by the inverse fractions)."""
    from hepgen.errors import InputError
    from hepgen.simulate.susy import FEATURES, load_susy_events

    if sorted(signal_files) != [0.25, 0.5, 0.75]:
        raise InputError(f"need signal files at epsilon 0.25, 0.5 and 0.75, got {sorted(signal_files)}")
    rng = np.random.default_rng(seed)
    sig = {eps: load_susy_events(path, min_jets=min_jets) for eps, path in signal_files.items()}
    bkg = _background(background_files, min_jets)
    for eps, ev in sig.items():
        if len(ev["weight_fb"]) < 20:
            raise InputError(f"signal file at epsilon {eps}: only {len(ev['weight_fb'])} events in the signal region")
    if len(bkg["weight_fb"]) < 20:
        raise InputError(f"background: only {len(bkg['weight_fb'])} events in the signal region")
    part: dict[float, dict[str, np.ndarray]] = {}
    for eps, ev in sig.items():
        tr, rest = _split(len(ev["weight_fb"]), (0.5, 0.5), rng)
        part[eps] = {"train": tr, "other": rest}
    b_tr, b_val, b_te = _split(len(bkg["weight_fb"]), (0.5, 0.25, 0.25), rng)
    names = list(FEATURES)
    x25, x75 = sig[0.25]["features"], sig[0.75]["features"]
    scaler = FeatureScaler(names).fit(np.concatenate([x25[part[0.25]["train"]], x75[part[0.75]["train"]]]))
    noise = np.random.default_rng(seed + 5)
    z = {eps: scaler.transform(ev["features"], noise) for eps, ev in sig.items()}
    zb = scaler.transform(bkg["features"], noise)

    # -- the morphing flow ε = 25 % <-> 75 %
    src, tgt = z[0.25][part[0.25]["train"]], z[0.75][part[0.75]["train"]]
    v25, v75 = z[0.25][part[0.25]["other"]], z[0.75][part[0.75]["other"]]
    field, morph_info = train_morph(src, tgt, steps=morph_steps, width=morph_width, seed=seed + 7,
                                    validation=(v25, v75))
    with torch.no_grad():
        t_v25, t_v75 = torch.from_numpy(v25), torch.from_numpy(v75)
        z50 = z[0.5][part[0.5]["other"]]
        forward_end = field.transport(t_v25, 1.0, n_time_steps).numpy()
        backward_end = field.transport(t_v75, 0.0, n_time_steps, t0=1.0).numpy()
        forward_mid = field.transport(t_v25, 0.5, n_time_steps).numpy()
        backward_mid = field.transport(t_v75, 0.5, n_time_steps, t0=1.0).numpy()
    morph_quality = {
        "forward_at_75": morph_distance(v75, forward_end), "backward_at_25": morph_distance(v25, backward_end),
        "forward_t_half_vs_50": morph_distance(z50, forward_mid),
        "backward_t_half_vs_50": morph_distance(z50, backward_mid),
        "mc_25_vs_75": morph_distance(v75, v25), "mc_25_vs_50": morph_distance(z50, v25),
        "mc_75_vs_50": morph_distance(z50, v75)}
    # Δφ (lepton vs lepton + p_T^miss) is no input: a correlation check after the inverse transform
    phys_fwd = scaler.inverse(forward_end)
    lep_phi, met_phi = phys_fwd[:, names.index("lep_phi")], phys_fwd[:, names.index("met_phi")]
    lep_pt, met = phys_fwd[:, names.index("lep_pt")], phys_fwd[:, names.index("met")]
    w_phi = np.arctan2(lep_pt * np.sin(lep_phi) + met * np.sin(met_phi),
                       lep_pt * np.cos(lep_phi) + met * np.cos(met_phi))
    delta_phi_col = np.abs((lep_phi - w_phi + np.pi) % (2 * np.pi) - np.pi)
    morph_quality["delta_phi_forward_vs_75"] = {
        "s2": histogram_s2(sig[0.75]["delta_phi"][part[0.75]["other"]], delta_phi_col),
        "ecdf": ecdf_distance(sig[0.75]["delta_phi"][part[0.75]["other"]], delta_phi_col)}

    # -- the training signals of the three paradigms (same number of events)
    n25, n75 = len(src), len(tgt)
    n_sig = n25 + n75
    with torch.no_grad():
        fwd_states = field.trajectory(torch.from_numpy(src), n_time_steps)
        bwd_states = field.trajectory(torch.from_numpy(tgt), n_time_steps, t0=1.0, t1=0.0)
    pick_f = rng.integers(0, n_time_steps + 1, n25)
    pick_b = rng.integers(0, n_time_steps + 1, n75)
    interpolation = np.concatenate([fwd_states[pick_f, np.arange(n25)].numpy(),
                                    bwd_states[pick_b, np.arange(n75)].numpy()])
    z50_train = z[0.5][part[0.5]["train"]]
    thirds = [n_sig // 3, n_sig // 3, n_sig - 2 * (n_sig // 3)]
    sanity = np.concatenate([pool[rng.integers(0, len(pool), k)] for pool, k in
                             zip((src, z50_train, tgt), thirds)])
    training = {"baseline": np.concatenate([src, tgt]), "interpolation": interpolation, "sanity": sanity}

    # -- weights (fb per event, scaled to the split)
    def w_sig(eps: float, idx: np.ndarray) -> np.ndarray:
        return sig[eps]["weight_fb"][idx] * len(sig[eps]["weight_fb"]) / len(idx)

    val_sig = np.concatenate([v25, v75])
    val_w = np.concatenate([w_sig(0.25, part[0.25]["other"]), w_sig(0.75, part[0.75]["other"])]) / 2
    val_b, val_bw = zb[b_val], bkg["weight_fb"][b_val] * len(zb) / len(b_val)
    test_sig, test_w = z50, w_sig(0.5, part[0.5]["other"])
    test_b, test_bw = zb[b_te], bkg["weight_fb"][b_te] * len(zb) / len(b_te)
    train_b, train_bw = zb[b_tr], bkg["weight_fb"][b_tr]

    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in PARADIGMS}
    start = time.perf_counter()
    for rep in range(repeats):
        for k, name in enumerate(PARADIGMS):
            def validation_score(predict: Any) -> float:
                yb = predict(val_b)
                edges = three_bin_edges(yb, val_bw)
                return -_luminosity(predict(val_sig), val_w, yb, val_bw, edges, target_z)[0]

            predict, info = train_focal_classifier(
                training[name], train_b, steps=classifier_steps, batch_size=1024, gamma=gamma, width=64, layers=4,
                lr=1e-3, weight_decay=5e-5, seed=seed + 1000 * rep + 31 * k, background_weight=train_bw,
                select=validation_score)
            edges = three_bin_edges(predict(val_b), val_bw)
            lumi, detail = _luminosity(predict(test_sig), test_w, predict(test_b), test_bw, edges, target_z)
            ys = predict(test_sig)
            runs[name].append({"luminosity_fb": lumi, "validation_luminosity_fb": -info["best_score"],
                               "best_step": info["best_step"], "signal_above_0.9": float(np.mean(ys > 0.9)),
                               **detail})
    rows: dict[str, dict[str, Any]] = {}
    for name, values in runs.items():
        lumis = np.array([r["luminosity_fb"] for r in values])
        finite = bool(np.all(np.isfinite(lumis))) and len(lumis) > 1
        rows[name] = {"luminosity_fb": float(lumis.mean()),
                      "luminosity_fb_err": float(lumis.std(ddof=1) / math.sqrt(len(lumis))) if finite else None,
                      "signal_above_0.9": float(np.mean([r["signal_above_0.9"] for r in values])),
                      "runs": values}
    base, interp = rows["baseline"], rows["interpolation"]
    ratio = base["luminosity_fb"] / interp["luminosity_fb"]
    rel = [r["luminosity_fb_err"] / r["luminosity_fb"] for r in (base, interp) if r["luminosity_fb_err"] is not None]
    comparison = {"baseline_over_interpolation_minus_1": float(ratio - 1),      # the thesis: +20 ± 12 %
                  "error": float(ratio * math.sqrt(sum(x * x for x in rel))) if len(rel) == 2 else None}
    counts = {f"signal_{eps:g}": len(ev["weight_fb"]) for eps, ev in sig.items()}
    counts.update({"background": len(bkg["weight_fb"]), "background_train": len(b_tr), "background_validation":
                   len(b_val), "background_test": len(b_te), "training_signal_per_paradigm": n_sig})
    yields = {f"signal_{eps:g}_fb": float(ev["weight_fb"].sum()) for eps, ev in sig.items()}
    for proc in np.unique(bkg["process"]):
        yields[f"{proc}_fb"] = float(bkg["weight_fb"][bkg["process"] == proc].sum())
    return {"settings": {"morph_steps": morph_steps, "classifier_steps": classifier_steps, "repeats": repeats,
                         "n_time_steps": n_time_steps, "gamma": gamma, "target_z": target_z, "min_jets": min_jets,
                         "morph_width": morph_width, "seed": seed},
            "counts": counts, "signal_region_yields": yields, "morph": {**morph_info, "quality": morph_quality},
            "scaler": scaler.state(), "rows": rows, "comparison": comparison,
            "classifier_seconds": time.perf_counter() - start}


def susy_morphing_table(result: dict[str, Any]) -> str:
    """Markdown table of :func:`susy_morphing_study`: the luminosity for Z = 3 per paradigm.

    >>> r = {"rows": {"baseline": {"luminosity_fb": 120.0, "luminosity_fb_err": 10.0, "signal_above_0.9": 0.8,
    ...                            "runs": [1] * 10}}, "settings": {"target_z": 3.0}}
    >>> print(susy_morphing_table(r).splitlines()[-1])
    | baseline | 120.0 ± 10.0 | 0.800 | 10 |
    """
    z = result["settings"]["target_z"]
    lines = [f"| training signal | luminosity for Z = {z:g} (fb⁻¹) | test signal with ŷ > 0.9 | retrainings |",
             "|---|---|---|---|"]
    for name, row in result["rows"].items():
        err = row["luminosity_fb_err"]
        lines.append(f"| {name} | {row['luminosity_fb']:.1f}" + ("" if err is None else f" ± {err:.1f}")
                     + f" | {row['signal_above_0.9']:.3f} | {len(row['runs'])} |")
    return "\n".join(lines)
