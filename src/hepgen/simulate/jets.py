"""Jets as particle clouds from Pythia 8 + FastJet, in the JetNet layout (JetNet: arXiv:2106.11535).

Common to all recipes (:data:`RECIPES`, docs/jet_recipe.md): pp at sqrt(s) = 13 TeV, a 2 -> 2 hard process with the
partons' pT-hat in a narrow window around ``pt_gev``, Pythia's default (Monash 2013) shower and hadronisation, visible
final-state particles clustered with anti-kT R = 0.8; each hard object (gluon, light quark, top, W, Z) keeps the
nearest jet within ``match_dr`` in (eta, phi). Hard processes:

====  ======================================================  =====================
type  Pythia processes                                        forced decays
====  ======================================================  =====================
g     HardQCD:gg2gg, HardQCD:qqbar2gg                         -
q     HardQCD:gg2qqbar, HardQCD:qqbar2qqbarNew (u, d, s)      -
t     Top:gg2ttbar, Top:qqbar2ttbar                           W -> q q'
w     WeakDoubleBoson:ffbar2WW                                W -> q q'
z     WeakDoubleBoson:ffbar2gmZgmZ (pure Z)                   Z -> q q
====  ======================================================  =====================

The stored particles are the jet's constituents as the recipe's simplified detector records them
(:func:`detector_particles`); jet and particle features are computed from them. Particle features
(eta_rel, phi_rel, pt_rel, mask): eta_rel = eta - eta_jet, phi_rel = phi - phi_jet
wrapped to [-pi, pi), pt_rel = pt / pt_jet, ordered by decreasing pt. Jet features: (pt [GeV], eta,
mass [GeV], n) where n counts the stored (<= max_particles) particles. The work is cut into chunks of
``chunk_size`` jets; chunk i is generated with a Pythia seed derived from (seed, i), so a sample is the
same for any number of worker processes and a stopped job resumes at the next missing chunk.

>>> settings = pythia_settings("t", seed=1)
>>> "Top:gg2ttbar = on" in settings, "24:onIfAny = 1 2 3 4 5" in settings
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hepgen.data.jets import JetData
from hepgen.errors import InputError

__all__ = ["JET_TYPES", "JetRecipe", "RECIPES", "detector_particles", "JetProduction", "pythia_settings", "chunk_seed",
           "jet_to_particles", "generate_chunk", "simulate_jets", "start_pythia", "wrap_phi"]

#: jet type -> (description, |PDG id| of the hard objects to match, Pythia process switches)
JET_TYPES: dict[str, tuple[str, tuple[int, ...], tuple[str, ...]]] = {
    "g": ("gluon", (21,), ("HardQCD:gg2gg = on", "HardQCD:qqbar2gg = on")),
    "q": ("light quark", (1, 2, 3), ("HardQCD:gg2qqbar = on", "HardQCD:qqbar2qqbarNew = on",
                                     "HardQCD:nQuarkNew = 3")),
    "t": ("top quark", (6,), ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off",
                              "24:onIfAny = 1 2 3 4 5")),
    "w": ("W boson", (24,), ("WeakDoubleBoson:ffbar2WW = on", "24:onMode = off", "24:onIfAny = 1 2 3 4 5")),
    "z": ("Z boson", (23,), ("WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2", "23:onMode = off",
                             "23:onIfAny = 1 2 3 4 5")),
}


def _check_type(jet_type: str) -> str:
    if jet_type not in JET_TYPES:
        raise InputError(f"unknown jet type '{jet_type}': expected one of {', '.join(JET_TYPES)} "
                         "(gluon, light quark, top, W, Z)")
    return jet_type


def chunk_seed(seed: int, chunk: int) -> int:
    """Pythia seed (1 .. 900 000 000) of chunk ``chunk`` of a production with ``seed``.

    >>> chunk_seed(1, 0) == chunk_seed(1, 0), chunk_seed(1, 0) != chunk_seed(1, 1)
    (True, True)
    """
    return int(np.random.SeedSequence([int(seed), int(chunk)]).generate_state(1)[0]) % 900_000_000 + 1


@dataclass(frozen=True)
class JetRecipe:
    """How jets are made, apart from type, count and seed (see docs/jet_recipe.md).

    ``mpi``: Pythia multi-parton interactions (underlying event); ``parton_pt_window``: relative half-width of the
    pT-hat window around ``pt_gev``; ``pythia_lines``: further Pythia settings (decays);
    ``jet_pt_range``: kept jets have pT in ``pt_gev * jet_pt_range`` (None: no cut). The stored particles of a jet are
    its constituents as a simplified detector records them (:func:`detector_particles`): charged particles one by
    one above ``charged_pt_min_gev``, photons summed in (eta, phi) cells of side ``photon_cell`` and neutral
    hadrons in cells of side ``neutral_hadron_cell`` (0: no merging), each cell kept above its pT threshold.
    """

    name: str
    summary: str
    mpi: bool
    parton_pt_window: float
    pythia_lines: tuple[str, ...] = ()
    jet_pt_range: tuple[float, float] | None = None
    charged_pt_min_gev: float = 0.0
    photon_cell: float = 0.0
    photon_pt_min_gev: float = 0.0
    neutral_hadron_cell: float = 0.0
    neutral_hadron_pt_min_gev: float = 0.0


#: the recipes: ``jetnet`` (default) reproduces the JetNet multiplicities, ``hepgen`` is the earlier production
RECIPES: dict[str, JetRecipe] = {
    "jetnet": JetRecipe(
        "jetnet", "JetNet (Kansal et al., arXiv:2106.11535): underlying event on (MPI), partons at pt_gev +- 1 %, jets "
        "with pT in 0.8-1.6 x pt_gev, stored particles: visible final-state constituents with pT >= 1 GeV",
        mpi=True, parton_pt_window=0.01, jet_pt_range=(0.8, 1.6), charged_pt_min_gev=1.0, photon_pt_min_gev=1.0,
        neutral_hadron_pt_min_gev=1.0),
    "hepgen": JetRecipe(
        "hepgen", "hepgen's first production: no underlying event (MPI off), partons at pt_gev +- 2 %, all visible "
        "final-state constituents, no jet pT cut", mpi=False, parton_pt_window=0.02),
}


def _check_recipe(recipe: str) -> JetRecipe:
    if recipe not in RECIPES:
        raise InputError(f"unknown jet recipe '{recipe}': expected one of {', '.join(RECIPES)}")
    return RECIPES[recipe]


def pythia_settings(jet_type: str, seed: int, pt_gev: float = 1000.0, pt_window: float | None = None,
                    mpi: bool | None = None, recipe: str = "jetnet") -> list[str]:
    """The Pythia ``readString`` lines for one jet type and recipe (pT-hat in ``pt_gev * (1 +- pt_window)`` GeV).

    ``pt_window`` and ``mpi`` default to the recipe's.

    >>> "PartonLevel:MPI = off" in pythia_settings("g", 1, recipe="hepgen")
    True
    """
    _check_type(jet_type)
    rec = _check_recipe(recipe)
    window = rec.parton_pt_window if pt_window is None else pt_window
    with_mpi = rec.mpi if mpi is None else mpi
    return ["Beams:eCM = 13000.", "Print:quiet = on", "Next:numberCount = 0",
            f"PhaseSpace:pTHatMin = {pt_gev * (1 - window):.6g}",
            f"PhaseSpace:pTHatMax = {pt_gev * (1 + window):.6g}",
            "Random:setSeed = on", f"Random:seed = {int(seed)}",
            f"PartonLevel:MPI = {'on' if with_mpi else 'off'}", *rec.pythia_lines, *JET_TYPES[jet_type][2]]


def detector_particles(constituents: np.ndarray, recipe: JetRecipe) -> np.ndarray:
    """A jet's constituents (n, 6) = (px, py, pz, E [GeV], PDG id, charge) as the recipe's detector records them.

    Returns (m, 4) four-momenta: charged particles with pT >= ``charged_pt_min_gev``; photons and neutral hadrons
    summed per (eta, phi) cell (``photon_cell``, ``neutral_hadron_cell``; 0 keeps them apart), cells with pT below
    their threshold dropped.

    >>> rec = JetRecipe("x", "", mpi=False, parton_pt_window=0.01, photon_cell=0.02, photon_pt_min_gev=1.0)
    >>> c = np.array([[10., 0, 0, 10, 211, 1], [5., 0, .01, 5, 22, 0], [5., 0, .02, 5, 22, 0], [.5, 0, 1, 1.1, 22, 0]])
    >>> detector_particles(c, rec).round(2).tolist()  # two photons in one cell, the soft photon below 1 GeV dropped
    [[10.0, 0.0, 0.0, 10.0], [10.0, 0.0, 0.03, 10.0]]
    """
    c = np.asarray(constituents, dtype=float)
    pt = np.hypot(c[:, 0], c[:, 1])
    charged = c[:, 5] != 0
    photon = ~charged & (np.abs(c[:, 4]) == 22)
    out = [c[charged & (pt >= recipe.charged_pt_min_gev), :4]]
    for kind, cell, pt_min in ((photon, recipe.photon_cell, recipe.photon_pt_min_gev),
                               (~charged & ~photon, recipe.neutral_hadron_cell, recipe.neutral_hadron_pt_min_gev)):
        mom = c[kind, :4]
        if cell > 0 and len(mom):
            ptk = np.maximum(np.hypot(mom[:, 0], mom[:, 1]), 1e-12)
            eta = np.arcsinh(mom[:, 2] / ptk)
            phi = np.arctan2(mom[:, 1], mom[:, 0])
            keys = np.stack([np.floor(eta / cell), np.floor(phi / cell)], axis=1)
            _, inverse = np.unique(keys, axis=0, return_inverse=True)
            summed = np.zeros((inverse.max() + 1, 4))
            np.add.at(summed, inverse.ravel(), mom)
            mom = summed
        out.append(mom[np.hypot(mom[:, 0], mom[:, 1]) >= pt_min])
    return np.concatenate(out, axis=0)


def wrap_phi(phi):
    """Azimuth differences wrapped to [-pi, pi) (numbers or arrays).

    >>> round(float(wrap_phi(3 * np.pi / 2)), 6)
    -1.570796
    """
    return (np.asarray(phi) + np.pi) % (2 * np.pi) - np.pi


def start_pythia(settings: list[str]):
    """An initialised ``pythia8mc.Pythia`` (quiet constructor) with the ``readString`` lines ``settings``;
    RuntimeError naming a rejected line or a failed initialisation (used by every Pythia production here)."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings:
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia rejected the setting '{line}'")
    if not pythia.init():
        raise RuntimeError("Pythia initialisation failed")
    return pythia


def jet_to_particles(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray,
                     max_particles: int, jet: tuple[float, float, float, float] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Constituent four-momenta (GeV) of one jet -> JetNet (max_particles, 4) features and (4,) jet features.

    The jet axis and pT come from ``jet`` = (px, py, pz, E), by default the constituent sum (E-scheme, as FastJet);
    give the clustered jet's when the particles are a subset (as JetNet: axis from all final-state particles). The
    jet mass is always that of the given particles (JetNet's mass from the particles).

    >>> p, j = jet_to_particles(np.array([100., 50.]), np.zeros(2), np.zeros(2), np.array([100., 50.]), 3)
    >>> [round(float(x), 3) for x in p[:, 2]], p[:, 3].tolist(), [round(float(x), 1) for x in j]
    ([0.667, 0.333, 0.0], [1.0, 1.0, 0.0], [150.0, 0.0, 0.0, 2.0])
    """
    pt = np.hypot(px, py)
    order = np.argsort(-pt, kind="stable")
    px, py, pz, e, pt = px[order], py[order], pz[order], e[order], pt[order]
    SX, SY, SZ, SE = px.sum(), py.sum(), pz.sum(), e.sum()
    mass = math.sqrt(max(SE * SE - SX * SX - SY * SY - SZ * SZ, 0.0))  # of the given particles
    PX, PY, PZ, _ = (SX, SY, SZ, SE) if jet is None else jet
    PT = math.hypot(PX, PY)
    eta_j, phi_j = math.asinh(PZ / PT), math.atan2(PY, PX)
    with np.errstate(divide="ignore"):
        eta = np.arcsinh(np.where(pt > 0, pz / np.where(pt > 0, pt, 1.0), np.sign(pz) * 1e3))
    k = min(len(pt), max_particles)
    out = np.zeros((max_particles, 4), np.float32)
    out[:k, 0] = eta[:k] - eta_j
    out[:k, 1] = wrap_phi(np.arctan2(py[:k], px[:k]) - phi_j)
    out[:k, 2] = pt[:k] / PT
    out[:k, 3] = 1.0
    return out, np.array([PT, eta_j, mass, k], np.float32)


@dataclass(frozen=True)
class JetProduction:
    """Settings of one production (everything that defines the sample)."""

    jet_type: str
    n_jets: int
    max_particles: int = 30
    seed: int = 1
    pt_gev: float = 1000.0
    pt_window: float | None = None
    radius: float = 0.8
    match_dr: float = 0.8
    mpi: bool | None = None
    chunk_size: int = 500
    recipe: str = "jetnet"

    def __post_init__(self) -> None:
        _check_type(self.jet_type)
        _check_recipe(self.recipe)
        if self.n_jets < 1 or self.max_particles < 1 or self.chunk_size < 1:
            raise InputError(f"need n_jets, max_particles and chunk_size >= 1, got {self.n_jets}, "
                             f"{self.max_particles}, {self.chunk_size}")

    @property
    def n_chunks(self) -> int:
        return -(-self.n_jets // self.chunk_size)

    def chunk_length(self, index: int) -> int:
        return min(self.chunk_size, self.n_jets - index * self.chunk_size)

    @property
    def settings(self) -> JetRecipe:
        """The recipe of this production."""
        return RECIPES[self.recipe]


def generate_chunk(prod: JetProduction, index: int) -> JetData:
    """Generate chunk ``index`` of ``prod`` (``prod.chunk_length(index)`` jets) in this process."""
    import fastjet

    rec = prod.settings
    pythia = start_pythia(pythia_settings(prod.jet_type, chunk_seed(prod.seed, index), prod.pt_gev, prod.pt_window,
                                          prod.mpi, prod.recipe))
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, prod.radius)
    targets = set(JET_TYPES[prod.jet_type][1])
    want = prod.chunk_length(index)
    particles, jets = [], []
    failures = 0
    while len(particles) < want:
        if not pythia.next():
            failures += 1
            if failures > 100:
                raise RuntimeError("Pythia failed 100 events in a row")
            continue
        hard = [(p.eta(), p.phi()) for p in pythia.process
                if p.idAbs() in targets and p.status() in (-22, -23, 22, 23)]
        event = pythia.event
        mom = np.array([(p.px(), p.py(), p.pz(), p.e(), p.id(), p.charge()) for p in event
                        if p.isFinal() and p.isVisible()])
        if len(mom) == 0:
            continue
        inputs = []
        for i, (x, y, z, e) in enumerate(mom[:, :4]):
            pj = fastjet.PseudoJet(float(x), float(y), float(z), float(e))
            pj.set_user_index(i)
            inputs.append(pj)
        seq = fastjet.ClusterSequence(inputs, jet_def)
        found = [j for j in seq.inclusive_jets(0.25 * prod.pt_gev)]
        used: set[int] = set()
        for eta_h, phi_h in hard:
            best, best_dr = -1, prod.match_dr
            for k, j in enumerate(found):
                dr = math.hypot(j.eta() - eta_h, float(wrap_phi(np.array(j.phi() - phi_h))))
                if k not in used and dr < best_dr:
                    best, best_dr = k, dr
            if best < 0:
                continue
            used.add(best)
            if rec.jet_pt_range is not None and not (rec.jet_pt_range[0] * prod.pt_gev <= found[best].pt()
                                                     <= rec.jet_pt_range[1] * prod.pt_gev):
                continue
            idx = np.array([c.user_index() for c in found[best].constituents()])
            c = detector_particles(mom[idx], rec)
            axis = found[best]
            p, j = jet_to_particles(c[:, 0], c[:, 1], c[:, 2], c[:, 3], prod.max_particles,
                                    (axis.px(), axis.py(), axis.pz(), axis.E()))
            particles.append(p)
            jets.append(j)
            if len(particles) == want:
                break
    return JetData(np.stack(particles), np.stack(jets), prod.jet_type)


def _worker(args: tuple[JetProduction, int]) -> tuple[int, JetData]:
    prod, index = args
    return index, generate_chunk(prod, index)


def simulate_jets(prod: JetProduction, output: str | Path, workers: int = 1, overwrite: bool = False) -> Path:
    """Produce ``prod.n_jets`` jets into ``output`` (JetNet .h5/.npz/.npy), resumable, with worker processes.

    Returns the output path. Chunks finished by an interrupted run with the same settings are kept.
    """
    from dataclasses import asdict

    from hepgen.data.jetwriter import JetChunkStore
    from hepgen.progress import ProgressBar

    store = JetChunkStore(output, asdict(prod), overwrite=overwrite)
    todo = [i for i in range(prod.n_chunks) if not store.done(i)]
    done_jets = sum(prod.chunk_length(i) for i in range(prod.n_chunks) if i not in set(todo))
    with ProgressBar(total=prod.n_jets, description=f"{JET_TYPES[prod.jet_type][0]} jets",
                     completed=done_jets) as bar:
        if workers <= 1 or len(todo) <= 1:
            for i in todo:
                store.save(i, generate_chunk(prod, i))
                bar.advance(prod.chunk_length(i))
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_worker, (prod, i)) for i in todo]
                for fut in as_completed(futures):
                    index, jets = fut.result()
                    store.save(index, jets)
                    bar.advance(prod.chunk_length(index))
    store.finish(prod.n_chunks)
    return store.output
