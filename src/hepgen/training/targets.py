"""Simulation-framework targets of ``hepgen export --target``: one small declarative :class:`Target` per framework
contract, and the one graph builder that turns any voxel-shower or hit-cloud run into that contract.

A target says what the framework's C++ feeds (input tensors and the fields in them, with units and
normalisations), what it reads back (output unit, voxel order, the mesh its hit maker places the cells on)
and whether the random draws come in the input (Par04's VAE latent) or must be made inside the graph (both
CaloDiT calls and CaloClouds pass only conditions). The contracts were read in the public sources (see
docs/simulation_chain.md for the file paths and what was confirmed where):

* ``par04``: Geant4 ``examples/extended/parameterisations/Par04`` with model type ``VAE``
  (``Par04InferenceSetup::GetEnergies``/``GetPositions``, ``Par04OnnxInference::RunInference``).
* ``par04-calodit``: the same example with model type ``CaloDiT-2``.
* ``ddml-calodit``: key4hep DDML ``ParallelWorldCaloDiTModel`` (branch CaloDiT_CLD_ParallelWorld_Full_Fast_SD).
* ``ddml-caloclouds``: key4hep DDML ``CaloCloudsTwoAngleModel`` (main).

Voxel targets take a cylindrical run (hepgen order: layer, alpha, radius with radius fastest) and write the
framework's cell order (rho, phi, z with z fastest); a run on a finer mesh with the same layers is rebinned
inside the graph (energy shared in proportion to the overlapping area), a coarser or different one is refused
with one line naming the geometry the target needs.

>>> sorted(TARGETS)
['ddml-caloclouds', 'ddml-calodit', 'par04', 'par04-calodit']
>>> t = TARGETS["ddml-calodit"]
>>> t.inputs[0].fields, t.mesh.n_phi, t.mev_per_output_unit
(('energy', 'phi', 'theta', 'onehot'), 16, 0.001)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hepgen.errors import InputError

__all__ = ["Mesh", "InputTensor", "HitLayout", "Target", "TARGETS", "get_target", "mesh_conversion",
           "convert_voxels", "ANGLE_LABELS", "label_degrees", "input_width", "target_graph", "target_onnx",
           "target_card", "export_target"]

#: hepgen's direction labels (``hepgen simulate --theta/--phi``, degrees, theta from the layers' normal) a target
#: feeds from its angle inputs: label name -> framework field
ANGLE_LABELS = {"theta_deg": "theta", "phi_deg": "phi"}


def label_degrees(target: "Target", label: str, angle_rad):
    """The hepgen label value (degrees) of a framework's angle input (rad; numbers, arrays or tensors): phi as it
    is; theta as it is for a framework whose theta is measured from the layers' normal (DDML's local direction,
    acos(dz)), and 90 - theta for one whose theta is the polar angle of the direction (Par04: 90 degrees at normal
    incidence on its barrel).

    >>> par04 = TARGETS["par04"]
    >>> round(label_degrees(par04, "theta_deg", math.pi / 3), 6), label_degrees(par04, "phi_deg", 0.0)
    (30.0, 0.0)
    """
    degrees = angle_rad * (180.0 / math.pi)
    return 90.0 - degrees if label == "theta_deg" and target.theta_polar else degrees


@dataclass(frozen=True)
class Mesh:
    """A framework's cylindrical cell mesh around the shower axis: ``n_rho`` x ``n_phi`` x ``n_z`` cells of
    ``rho_mm`` and ``z_mm``; phi cell j spans ``phi_origin + [j, j + 1] 2 pi / n_phi`` (rad); the flat output
    order is (rho, phi, z) with z fastest; cell l sits at depth ``(l + z_offset_cells) z_mm``.

    >>> Mesh(9, 16, 45, 4.65, 3.4, -math.pi).phi_centres()[:2].round(4).tolist()
    [-2.9452, -2.5525]
    """

    n_rho: int
    n_phi: int
    n_z: int
    rho_mm: float
    z_mm: float
    phi_origin: float
    z_offset_cells: float = 0.5

    @property
    def n_cells(self) -> int:
        return self.n_rho * self.n_phi * self.n_z

    def phi_centres(self) -> np.ndarray:
        """(n_phi,) cell centres in rad, as the framework's hit placement computes them."""
        return self.phi_origin + (np.arange(self.n_phi) + 0.5) * 2 * np.pi / self.n_phi

    def describe(self) -> str:
        return (f"{self.n_rho} rho x {self.n_phi} phi x {self.n_z} z cells of {self.rho_mm} mm x "
                f"{360 / self.n_phi:g} deg x {self.z_mm} mm")


@dataclass(frozen=True)
class InputTensor:
    """One input tensor of the framework call, shape (1, len): its ``fields`` in order; ``latent`` stands for
    the model's N(0, 1) draws (all of them, flattened), ``onehot`` for the framework's constant geometry vector."""

    name: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class HitLayout:
    """A flat hit-list output: ``n_layers`` per-layer counts, then (x, y, layer, E) per hit; the framework reads
    ``size`` floats and negates x and y (``xy_sign``)."""

    n_layers: int
    size: int
    xy_sign: float = -1.0

    @property
    def max_hits(self) -> int:
        return (self.size - self.n_layers) // 4


@dataclass(frozen=True)
class Target:
    """The contract of one framework call (see the module docstring for the sources)."""

    name: str
    framework: str
    model_type: str
    data_kind: str                      # "showers" (voxel models) or "points" (hit-cloud models)
    inputs: tuple[InputTensor, ...]
    output_name: str
    energy_unit_mev: float              # one unit of the energy input in MeV
    angle_unit_rad: dict = field(default_factory=dict)   # field -> one unit of that input in rad
    theta_polar: bool = False           # theta is the polar angle (90 deg at normal incidence), not from the normal
    onehot: tuple[float, ...] = ()
    noise: str = "in-graph"             # "latent-input" (drawn by the framework) or "in-graph"
    mev_per_output_unit: float | None = None   # None: the output is a fraction of the incident energy
    deposit_threshold_mev: float = 0.0  # the framework makes a hit only above this (MeV)
    mesh: Mesh | None = None
    hits: HitLayout | None = None
    needs: str = ""                     # the hepgen geometry a run must be on (for refusals)
    sources: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()      # framework macro lines / plugin properties that go with the graph
    notes: str = ""


_PAR04 = "Geant4 examples/extended/parameterisations/Par04"
_DDML = "key4hep DDML (DDFastShowerML)"

TARGETS: dict[str, Target] = {t.name: t for t in (
    Target(
        "par04", _PAR04, "VAE", "showers",
        (InputTensor("latent_and_conditions", ("latent", "energy", "theta", "onehot")),), "energy_fractions",
        energy_unit_mev=1024000.0, angle_unit_rad={"theta": math.pi / 2}, theta_polar=True, onehot=(0.0, 1.0),
        noise="latent-input",
        mev_per_output_unit=None, deposit_threshold_mev=0.0005,
        mesh=Mesh(18, 50, 45, 2.325, 3.4, -math.pi), needs="calochallenge-3 (18 rho x 50 phi x 45 layers)",
        sources=("src/Par04InferenceSetup.cc (GetEnergies, GetPositions)", "src/Par04OnnxInference.cc (RunInference)",
                 "src/Par04MLFastSimModel.cc (DoIt)", "include/Par04InferenceSetup.hh (defaults)",
                 "examplePar04_onnx_vae.mac", "training_vae/utils/preprocess.py"),
        settings=("/Par04/inference/setModelType VAE", "/Par04/inference/setSizeLatentVector {latent}",
                  "/Par04/inference/setSizeConditionVector 4", "/Par04/inference/setInferenceLibrary ONNX",
                  "/Par04/inference/setSizeOfRhoCells 2.325 mm", "/Par04/inference/setSizeOfZCells 3.4 mm",
                  "/Par04/inference/setNbOfRhoCells 18", "/Par04/inference/setNbOfPhiCells 50",
                  "/Par04/inference/setNbOfZCells 45"),
        notes="input [1, latent + 4]: N(0,1) latent, E / 1,024,000 MeV, theta in degrees / 90, geometry one-hot "
              "(Par04 writes [0, 1], SiW; ignored by the graph); output x E_MeV = cell energy (MeV)"),
    Target(
        "par04-calodit", _PAR04, "CaloDiT-2", "showers",
        (InputTensor("conditions", ("energy", "phi", "theta", "onehot")),), "cell_energies_gev",
        energy_unit_mev=1000.0, angle_unit_rad={"phi": 1.0, "theta": 1.0}, theta_polar=True,
        onehot=(1.0, 0.0, 0.0, 0.0, 0.0),
        mev_per_output_unit=1000.0, deposit_threshold_mev=0.0005,
        mesh=Mesh(9, 16, 45, 4.65, 3.4, -math.pi), needs="calochallenge-2 (9 rho x 16 phi x 45 layers) or "
                                                         "calochallenge-3 (rebinned)",
        sources=("src/Par04InferenceSetup.cc (GetEnergies, GetPositions)", "src/Par04OnnxInference.cc (RunInference)",
                 "examplePar04_onnx_calodit.mac", "training_calodit/README.md"),
        settings=("/Par04/inference/setModelType CaloDiT-2", "/Par04/inference/setInferenceLibrary ONNX",
                  "/Par04/inference/setSizeOfRhoCells 4.65 mm", "/Par04/inference/setSizeOfZCells 3.4 mm",
                  "/Par04/inference/setNbOfRhoCells 9", "/Par04/inference/setNbOfPhiCells 16",
                  "/Par04/inference/setNbOfZCells 45"),
        notes="input [1, 8]: E in GeV, phi and theta in rad, one-hot (Par04SiW first; ignored by the graph); output "
              "x 1000 = cell energy (MeV); noise drawn inside the graph"),
    Target(
        "ddml-calodit", _DDML, "ParallelWorldCaloDiTModel", "showers",
        (InputTensor("conditions", ("energy", "phi", "theta", "onehot")),), "cell_energies_kev",
        energy_unit_mev=1000.0, angle_unit_rad={"phi": 1.0, "theta": 1.0}, onehot=(0.0, 0.0, 0.0, 1.0, 0.0),
        mev_per_output_unit=0.001, deposit_threshold_mev=0.0,
        mesh=Mesh(9, 16, 45, 4.65, 3.4, 0.0, z_offset_cells=1.5),
        needs="calochallenge-2 (9 rho x 16 phi x 45 layers) or calochallenge-3 (rebinned)",
        sources=("src/ParallelWorldCaloDiTModel.cc (prepareInput, convertOutput)",
                 "include/DDML/ParallelWorldCaloDiTModel.h (defaults)", "src/ONNXInference.cc (runInference)",
                 "include/DDML/FastMLShower.h (modelShower)", "scripts/ddsim_steer.py (IntraOpNumThreads 1)"),
        settings=("NCellsRho = 9", "NCellsPhi = 16", "NCellsZ = 45", "LatentVectorSize = 8",
                  "CellSizeRho = 4.65*mm", "CellSizeZ = 3.4*mm (the model's layer pitch; DDML's default 5.05 mm is "
                  "CLD's)", "IntraOpNumThreads = 1"),
        notes="input [1, 8]: E in GeV, phi = atan2(dy, dx) and theta = acos(dz) in rad, one-hot (DDML writes "
              "index 3; ignored by the graph); output / 1000 = the MeV DDML hands to G4FastHit (convertOutput "
              "divides by CLHEP::GeV), i.e. keV; phi cells start at 0, not -pi; noise drawn inside the graph"),
    Target(
        "ddml-caloclouds", _DDML, "CaloCloudsTwoAngleModel", "points",
        (InputTensor("energy", ("energy",)), InputTensor("theta", ("theta",)), InputTensor("phi", ("phi",))), "hits",
        energy_unit_mev=1000.0, angle_unit_rad={"theta": math.pi / 180, "phi": math.pi / 180},
        mev_per_output_unit=1.0, hits=HitLayout(30, 35000), needs="a 30-layer cartesian geometry (ild-ecal)",
        sources=("src/CaloCloudsTwoAngleModel.cc (prepareInput, convertOutput)",
                 "include/DDML/CaloCloudsTwoAngleModel.h (30 layers, 35000 floats)", "src/ONNXInference.cc",
                 "src/PolyhedraBarrelGeometry.cc (localToGlobal)", "include/DDML/FastMLShower.h"),
        settings=("LatentVectorSize = 3", "IntraOpNumThreads = 1"),
        notes="three [1, 1] inputs: E in GeV, theta and phi in degrees (local direction); output [1, 35000]: 30 "
              "per-layer hit counts, then (x, y, layer, E) per hit (mm, mm, 0-based layer, MeV), zero padded; DDML "
              "negates x and y; n_hits and the model noise drawn inside the graph"),
)}


def get_target(name: str) -> Target:
    """The :class:`Target` called ``name`` (InputError naming the known ones otherwise).

    >>> get_target("par04").model_type
    'VAE'
    """
    if name not in TARGETS:
        raise InputError(f"unknown export target '{name}'; expected one of {', '.join(sorted(TARGETS))}")
    return TARGETS[name]


# ---------------------------------------------------------------------------------------------- mesh conversion

def _circular_overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    total = 0.0
    for k in (-1, 0, 1):
        lo, hi = max(a0, b0 + 2 * np.pi * k), min(a1, b1 + 2 * np.pi * k)
        total += max(hi - lo, 0.0)
    return total


def mesh_conversion(geometry, target: Target) -> tuple[np.ndarray, np.ndarray]:
    """(rho matrix (n_rho, n_r), phi matrix (n_phi, n_alpha)) taking a cylindrical geometry's (alpha, radius)
    cells of every layer to the target mesh: entry [t, s] is the fraction of source cell s inside target cell t
    (area in rho, angle in phi), so columns sum to 1 and energy is conserved. InputError (one line, naming the
    geometry the target needs) for geometries the mesh cannot be made from: not cylindrical, other layers, a
    finer target mesh.

    >>> from hepgen.geometry import get_geometry
    >>> r, a = mesh_conversion(get_geometry("calochallenge-3"), TARGETS["par04-calodit"])
    >>> r.shape, a.shape, bool(np.allclose(r.sum(0), 1) and np.allclose(a.sum(0), 1)), r[0, :3].tolist()
    ((9, 18), (16, 50), True, [1.0, 1.0, 0.0])
    >>> r, a = mesh_conversion(get_geometry("calochallenge-2"), TARGETS["ddml-calodit"])
    >>> int(np.argmax(a[:, 0]))   # hepgen's first alpha bin (just above -pi) is DDML's phi cell 8
    8
    """
    mesh = target.mesh
    assert mesh is not None, f"target {target.name} has no mesh"
    need = f"target '{target.name}' needs {target.needs}"
    geo = geometry
    if getattr(geo, "kind", None) != "cylindrical" or geo.shape is None:
        raise InputError(f"{need}; the run is on '{geo.name}' ({geo.kind}, not a regular cylindrical mesh)")
    n_layers, n_alpha, n_r = geo.shape
    if n_layers != mesh.n_z:
        raise InputError(f"{need}; the run is on '{geo.name}' with {n_layers} layers, not {mesh.n_z}")
    if geo.layer_stack is None:
        raise InputError(f"{need}; the run's geometry '{geo.name}' has no layer thicknesses to check")
    pitch = np.diff(geo.layer_depths_mm())
    if not np.allclose(pitch, mesh.z_mm, rtol=1e-6, atol=1e-6):
        raise InputError(f"{need}; the run's layers on '{geo.name}' are {pitch[0]:g} mm deep, not {mesh.z_mm} mm")
    edges = np.asarray(geo.r_edges[0], np.float64)
    if any(not np.array_equal(np.asarray(r), edges) for r in geo.r_edges):
        raise InputError(f"{need}; the run's radial bins on '{geo.name}' differ between layers")
    if abs(edges[0]) > 1e-9 or abs(edges[-1] - mesh.n_rho * mesh.rho_mm) > 1e-6:
        raise InputError(f"{need}; the run's radial bins on '{geo.name}' span {edges[0]:g}-{edges[-1]:g} mm, not "
                         f"0-{mesh.n_rho * mesh.rho_mm:g} mm")
    if mesh.n_rho > n_r or mesh.n_phi > n_alpha:
        raise InputError(f"{need}; the run's mesh on '{geo.name}' ({n_r} r x {n_alpha} alpha) is coarser than "
                         f"the target's ({mesh.n_rho} x {mesh.n_phi}) and would have to invent structure")
    t_edges = np.arange(mesh.n_rho + 1) * mesh.rho_mm
    rho = np.zeros((mesh.n_rho, n_r))
    for t in range(mesh.n_rho):
        for s in range(n_r):
            lo, hi = max(edges[s], t_edges[t]), min(edges[s + 1], t_edges[t + 1])
            if hi > lo:
                rho[t, s] = (hi ** 2 - lo ** 2) / (edges[s + 1] ** 2 - edges[s] ** 2)
    a_edges = np.linspace(-np.pi, np.pi, n_alpha + 1)   # hepgen / CaloChallenge alpha bins
    p_edges = mesh.phi_origin + np.arange(mesh.n_phi + 1) * 2 * np.pi / mesh.n_phi
    phi = np.zeros((mesh.n_phi, n_alpha))
    for t in range(mesh.n_phi):
        for s in range(n_alpha):
            phi[t, s] = _circular_overlap(a_edges[s], a_edges[s + 1], p_edges[t], p_edges[t + 1]) \
                / (a_edges[s + 1] - a_edges[s])
    rho[np.abs(rho) < 1e-12] = 0.0
    phi[np.abs(phi) < 1e-12] = 0.0
    return rho, phi


def convert_voxels(energy: np.ndarray, geometry, target: Target) -> np.ndarray:
    """(N, n_voxels) hepgen-order energies -> (N, n_cells) in the target's (rho, phi, z) order on its mesh
    (numpy; the graph does the same in torch).

    >>> from hepgen.geometry import get_geometry
    >>> g = get_geometry("calochallenge-2")
    >>> e = np.zeros((1, g.n_voxels)); e[0, 0] = 1.0          # layer 0, alpha bin 0, radius bin 0
    >>> out = convert_voxels(e, g, TARGETS["par04-calodit"])
    >>> int(np.argmax(out[0])), float(out.sum())             # rho 0, phi 0, z 0
    (0, 1.0)
    >>> int(np.argmax(convert_voxels(e, g, TARGETS["ddml-calodit"])[0])) == 8 * 45   # DDML: phi cell 8
    True
    """
    rho, phi = mesh_conversion(geometry, target)
    n_layers, n_alpha, n_r = geometry.shape
    x = np.asarray(energy, np.float64).reshape(-1, n_layers, n_alpha, n_r)
    out = np.einsum("nlar,ja,ir->nijl", x, phi, rho)
    return out.reshape(len(x), -1)


# ---------------------------------------------------------------------------------------------- graphs

def _check_labels(kind, target: Target) -> list[str]:
    """The run's conditioning labels, each fed from a target angle field; InputError for any other label."""
    fields = {f for t in target.inputs for f in t.fields}
    bad = [k for k in kind.labels if ANGLE_LABELS.get(k) not in fields]
    if target.data_kind == "points":
        bad = [k for k in bad if k != "n_hits"]
    if bad:
        supplied = ", ".join(["incident energy"] + [k for k, f in ANGLE_LABELS.items() if f in fields])
        raise InputError(f"target '{target.name}' supplies {supplied}; the run is also conditioned on "
                         f"{', '.join(repr(b) for b in bad)}")
    return [k for k in kind.labels if k in ANGLE_LABELS]


def _check_kind(kind, model, target: Target) -> None:
    if kind.kind != target.data_kind:
        what = "a voxel-shower" if target.data_kind == "showers" else "a hit-cloud (point)"
        raise InputError(f"target '{target.name}' takes {what} model on {target.needs}; '{model.name}' is a "
                         f"{kind.kind} model")


def target_graph(model, kind, target: Target, open_noise: bool = False):
    """(torch module, example inputs, input names, latent shapes) of ``target`` for a loaded run.

    The module takes the framework's input tensors (and, with ``open_noise``, the model's draws as extra inputs
    ``noise_k`` instead of drawing them inside: the same graph with the draws exposed, for the conformance check)
    and returns the framework's output tensor.
    """
    import torch

    _check_kind(kind, model, target)
    angle_labels = _check_labels(kind, target)
    graph = model.export_graph()
    cond0, _ = _example_conditions(model, kind, target)
    with torch.random.fork_rng(), torch.inference_mode():
        shapes = [tuple(t.shape[1:]) for t in graph.noise(cond0, torch.Generator().manual_seed(0))]
    if target.data_kind == "showers":
        module = _VoxelGraph(graph.network, kind, target, shapes, angle_labels, open_noise)
    else:
        module = _HitGraph(graph.network, kind, target, shapes, open_noise)
    inputs = [np.zeros((1, input_width(t, target, module.latent_size)), np.float32) for t in target.inputs]
    for t, x in zip(target.inputs, inputs):
        _fill_example(t, x, target)
    names = [t.name for t in target.inputs]
    if open_noise and target.noise == "in-graph":
        inputs += [np.zeros((1, *s), np.float32) for s in module.noise_shapes]
        names += [f"noise_{i}" for i in range(len(module.noise_shapes))]
    return module.eval(), inputs, names, shapes


def _example_conditions(model, kind, target):
    import torch

    e = np.array([1e4, 2e4])
    if kind.kind == "points":
        labels = {"n_hits": np.array([2, 3])}
    else:
        labels = {k: np.full(2, 0.5) for k in kind.labels}
    return torch.as_tensor(kind.encode_cond(e, labels)), labels


def _fill_example(t: InputTensor, x: np.ndarray, target: Target) -> None:
    latent = len(x[0]) - input_width(t, target, 0)
    for f, sl in _field_slices(t, target, latent).items():
        if f == "energy":
            x[0, sl] = 2e4 / target.energy_unit_mev
        elif f == "onehot":
            x[0, sl] = target.onehot
        elif f != "latent":
            x[0, sl] = 0.5


def input_width(t: InputTensor, target: Target, latent: int) -> int:
    """Length of one framework input tensor (``latent``: the size of the latent field).

    >>> input_width(TARGETS["par04"].inputs[0], TARGETS["par04"], 10)
    14
    """
    return sum(_field_slices(t, target, latent)[f].stop - _field_slices(t, target, latent)[f].start for f in t.fields)


def _field_slices(t: InputTensor, target: Target, latent: int) -> dict[str, slice]:
    out, pos = {}, 0
    for f in t.fields:
        width = latent if f == "latent" else len(target.onehot) if f == "onehot" else 1
        out[f] = slice(pos, pos + width)
        pos += width
    return out


def _read_fields(target: Target, inputs, latent: int) -> dict:
    """Framework input tensors -> {field: (N, width) tensor}."""
    fields = {}
    for t, x in zip(target.inputs, inputs):
        for f, sl in _field_slices(t, target, latent).items():
            fields[f] = x[:, sl]
    return fields


def _draws(like, shapes, noise):
    """The model's draws: given (open graph) or N(0, 1) drawn inside (RandomNormalLike in ONNX)."""
    import torch

    if noise:
        return list(noise)
    n = like.shape[0]
    return [torch.randn_like(like[:, :1].reshape((n,) + (1,) * len(s)).expand((n,) + s)) for s in shapes]


class _Base:
    """What both graphs share: the model's draws from the latent field, from inputs, or made inside."""

    def _setup(self, target, shapes, open_noise):
        self.target, self.noise_shapes, self.open_noise = target, [tuple(s) for s in shapes], open_noise
        self.sizes = [int(np.prod(s)) for s in self.noise_shapes]
        self.latent_size = int(sum(self.sizes)) if target.noise == "latent-input" else 0

    def _noise(self, fields, like, extra):
        if self.target.noise == "latent-input":
            flat, out, pos = fields["latent"], [], 0
            for s, k in zip(self.noise_shapes, self.sizes):
                out.append(flat[:, pos:pos + k].reshape((flat.shape[0],) + s))
                pos += k
            return out
        return _draws(like, self.noise_shapes, extra if self.open_noise else ())


class _VoxelGraph(torch.nn.Module, _Base):
    """Framework inputs -> conditions (MeV, rad) -> the run's physical graph (MeV, hepgen order) -> mesh, order
    and unit of the target."""

    def __init__(self, network, kind, target: Target, shapes, angle_labels, open_noise: bool) -> None:
        import torch

        super().__init__()
        self._setup(target, shapes, open_noise)
        self.network, self.kind, self.angle_labels = network, kind, list(angle_labels)
        rho, phi = mesh_conversion(kind.geometry, target)
        self.shape = tuple(kind.geometry.shape)
        self.register_buffer("rho_t", torch.as_tensor(rho.T.copy(), dtype=torch.float32))
        self.register_buffer("phi", torch.as_tensor(phi, dtype=torch.float32))
        perm = [int(np.argmax(c)) for c in phi.T]   # target phi cell of each alpha bin when it is a permutation
        self.phi_gather = None
        if phi.shape[0] == phi.shape[1] and np.allclose(np.sort(phi, axis=0)[-1], 1.0):
            self.phi_gather = [int(np.argmax(r)) for r in phi]   # alpha bin of each target phi cell
            assert sorted(perm) == list(range(len(perm)))
        self.rho_identity = rho.shape[0] == rho.shape[1] and np.allclose(rho, np.eye(rho.shape[0]))

    def forward(self, *inputs):
        import torch

        t = self.target
        framework = inputs[:len(t.inputs)]
        fields = _read_fields(t, framework, self.latent_size)
        e_mev = fields["energy"][:, :1] * t.energy_unit_mev
        cols = [e_mev]
        for k in self.kind.labels:   # only angle labels pass _check_labels
            f = ANGLE_LABELS[k]
            cols.append(label_degrees(t, k, fields[f][:, :1] * t.angle_unit_rad[f]))
        raw = torch.cat(cols, dim=1)
        noise = self._noise(fields, e_mev, inputs[len(t.inputs):])
        x = self.network(self.kind.cond.forward(raw, None), *noise)
        energy = self.kind.data.inverse(x.reshape(raw.shape[0], -1), raw[:, 0]).clamp_min(0.0)
        n_layers, n_alpha, n_r = self.shape
        v = energy.reshape(-1, n_layers, n_alpha, n_r)
        if not self.rho_identity:
            v = torch.matmul(v, self.rho_t)
        if self.phi_gather is not None:
            v = v[:, :, self.phi_gather, :]
        else:
            v = torch.matmul(self.phi, v)
        cells = v.permute(0, 3, 2, 1).reshape(raw.shape[0], -1)   # (rho, phi, z), z fastest
        if t.mev_per_output_unit is None:
            return cells / e_mev
        return cells / t.mev_per_output_unit


class _HitGraph(torch.nn.Module, _Base):
    """Framework inputs -> n_hits (the run's Gaussian n_hits(E) model, drawn inside) and the model's draws ->
    the cloud -> hits (cell centres in mm, 0-based layer, MeV) in the framework's flat hit list."""

    def __init__(self, network, kind, target: Target, shapes, open_noise: bool) -> None:
        import torch

        super().__init__()
        self._setup(target, shapes, open_noise)
        self.network, self.kind = network, kind
        geo, lay = kind.geometry, target.hits
        assert lay is not None
        if getattr(geo, "kind", None) != "cartesian" or geo.shape is None or geo.shape[0] != lay.n_layers:
            raise InputError(f"target '{target.name}' needs {target.needs}; the run is on '{geo.name}' "
                             f"({geo.describe()})")
        if kind.n_max > lay.max_hits:
            raise InputError(f"target '{target.name}' reads at most {lay.max_hits} hits ({lay.size} floats); the run's "
                             f"clouds have up to n_max = {kind.n_max}")
        pos = geo.voxel_positions()
        n_z, n_y, n_x = geo.shape
        grid_x = pos["x"].reshape(n_z, n_y, n_x)[0, 0, :]
        grid_y = pos["y"].reshape(n_z, n_y, n_x)[0, :, 0]
        self.register_buffer("grid_x", torch.as_tensor(grid_x - grid_x.mean(), dtype=torch.float32))
        self.register_buffer("grid_y", torch.as_tensor(grid_y - grid_y.mean(), dtype=torch.float32))
        p = kind.hits.params
        self.bins = [int(b) for b in p["bins"]]
        self.register_buffer("mean", torch.as_tensor(p["mean"], dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(p["std"], dtype=torch.float32))
        self.lam, self.e_scale = float(p["lambda"]), float(p["e_scale"])
        self.e_cap = 10.0 * float(p.get("e_max", 1e30))
        self.nh = _gaussian_nhits(kind)
        self.noise_shapes = [(1,)] + self.noise_shapes   # noise_0: the n_hits draw
        self.sizes = [1] + self.sizes

    def forward(self, *inputs):
        import torch

        t, lay = self.target, self.target.hits
        # the angle tensors enter (x 0) so the graph keeps all three inputs the framework feeds (an unconditioned
        # model would otherwise lose them in the export, and the C++ feeds inputs by position)
        unused = sum((x * 0.0).sum(dim=1, keepdim=True) for x in inputs[1:len(t.inputs)])
        e_mev = (inputs[0][:, :1] + unused) * t.energy_unit_mev
        draws = self._noise({}, e_mev, inputs[len(t.inputs):])
        u = torch.log(e_mev)
        mean, sd = torch.zeros_like(u), torch.zeros_like(u)
        for c in self.nh["mean"]:   # numpy polyval order, highest power first (Horner)
            mean = mean * u + c
        for c in self.nh["sigma"]:
            sd = sd * u + c
        sd = sd.clamp_min(0.0)
        n = torch.round(mean + sd * draws[0]).clamp(1.0, float(self.kind.n_max))
        cond = self.kind.cond.forward(torch.cat([e_mev, n], dim=1), None)
        x = self.network(torch.cat([cond, n], dim=1), *draws[1:])         # (1, n_max, 5)
        f = x[..., :4].clamp(-50.0, 50.0)
        raw = f * self.std + self.mean
        y = raw[..., 0].clamp(-10.0 * self.std[0] + self.mean[0], 10.0 * self.std[0] + self.mean[0])
        if abs(self.lam) < 1e-12:
            energy = torch.exp(y) * self.e_scale
        else:
            energy = torch.pow((self.lam * y + 1.0).clamp_min(1e-30), 1.0 / self.lam) * self.e_scale
        energy = energy.clamp(0.0, self.e_cap)
        idx = [torch.floor(torch.sigmoid(raw[..., a + 1]) * b).clamp(0, b - 1) for a, b in enumerate(self.bins)]
        mask = x[..., 4] > 0.5
        keep = mask.to(energy.dtype)
        layer = idx[0]
        xs = self.grid_x[idx[2].long()] / lay.xy_sign
        ys = self.grid_y[idx[1].long()] / lay.xy_sign
        hits = torch.stack([xs, ys, layer, energy], dim=-1) * keep.unsqueeze(-1)     # hits first, then padding
        counts = (torch.nn.functional.one_hot(layer.long(), lay.n_layers).to(energy.dtype)
                  * keep.unsqueeze(-1)).sum(1)                                       # (1, n_layers)
        flat = torch.cat([counts, hits.reshape(hits.shape[0], -1)], dim=1)
        pad = lay.size - flat.shape[1]
        return torch.nn.functional.pad(flat, (0, pad))


def _gaussian_nhits(kind) -> dict:
    """n_hits | E as Gaussian(mean(log E), std(log E)) polynomials: the run's own ``poly`` model, or one fitted on
    draws of its ``kde`` model over the training energies (what the graph can draw from one N(0, 1))."""
    from hepgen.models.nhits import NHitsModel

    p = kind.nhits.params
    if p.get("kind") == "poly":
        return {"mean": list(p["mean"]), "sigma": list(p["sigma"])}
    rng = np.random.default_rng(0)
    mean, std = kind.cond.transforms[0].params["mean"][0], kind.cond.transforms[0].params["std"][0]
    e = np.exp(rng.uniform(mean - 2 * std, mean + 2 * std, 20000))
    fit = NHitsModel.fit(e, kind.nhits.sample(e, rng), kind="poly", n_max=kind.n_max).params
    return {"mean": list(fit["mean"]), "sigma": list(fit["sigma"])}


def target_onnx(model, kind, target: Target, open_noise: bool = False, opset: int = 17) -> tuple[bytes, list[str]]:
    """ONNX bytes and input names of the target graph (dynamic batch; the frameworks call it with batch 1)."""
    module, inputs, names, _ = target_graph(model, kind, target, open_noise)
    return _export(module, inputs, names, target.output_name, opset), names


def _export(module, inputs, names, output_name, opset):
    import io
    import warnings

    import torch

    from hepgen.training.onnx import _register_missing_symbolics

    _register_missing_symbolics(opset)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(torch.as_tensor(x) for x in inputs), buf, dynamo=False, input_names=names,
                          output_names=[output_name], opset_version=opset,
                          dynamic_axes={k: {0: "n"} for k in names + [output_name]})
    return buf.getvalue()


def target_card(run_dir, model, kind, config: dict, target: Target, names: list[str], shapes) -> dict[str, Any]:
    """The model card written beside the graph: framework, inputs/outputs with units, mesh, noise, conditioning
    ranges, training data and the run's last metrics."""
    import json
    from pathlib import Path

    from hepgen.training.run import RunDir

    latent = int(sum(int(np.prod(s)) for s in shapes))
    run = RunDir(run_dir)
    metrics: dict = {}
    if run.metrics.is_file():
        lines = [ln for ln in run.metrics.read_text().splitlines() if ln.strip()]
        if lines:
            metrics = json.loads(lines[-1])
    scaler = kind.cond.transforms[0].params
    lo, hi = (float(np.exp(scaler["mean"][0] + s * 2 * scaler["std"][0])) for s in (-1, 1))
    card: dict[str, Any] = {
        "target": target.name, "framework": target.framework, "model_type": target.model_type,
        "run": str(Path(run_dir).name), "model": model.name, "contract": target.notes,
        "inputs": [{"name": n, "shape": [1, input_width(t, target, latent)], "fields": list(t.fields)}
                   for n, t in zip(names, target.inputs)],
        "output": {"name": target.output_name, "unit": ("fraction of the incident energy" if
                                                        target.mev_per_output_unit is None else
                                                        f"{target.mev_per_output_unit:g} MeV per unit")},
        "units": {"energy_input_mev_per_unit": target.energy_unit_mev,
                  "angle_inputs_rad_per_unit": dict(target.angle_unit_rad)},
        "geometry": {"run": kind.geometry.name, "description": kind.geometry.describe()},
        "noise": ("latent input: the framework draws N(0, 1) x " + str(latent) if target.noise == "latent-input"
                  else "drawn inside the graph (RandomNormalLike), the framework passes conditions only"),
        "conditioning": {"labels": list(kind.labels),
                         "incident_energy_mev_2sigma": [lo, hi],
                         "angles": ("conditioned on " + ", ".join(k for k in kind.labels if k in ANGLE_LABELS))
                         if any(k in ANGLE_LABELS for k in kind.labels) else
                         "not conditioned: the angle inputs are read and ignored (the run's fixed incidence)"},
        "training_data": {"file": config.get("data") or "not recorded in the run directory",
                          "geometry": kind.geometry.name, "preprocessing": config.get("preprocessing")},
        "metrics": metrics, "state": run.state(),
        "framework_settings": [s.replace("{latent}", str(latent)) for s in target.settings],
        "sources": list(target.sources), "notes": model.export_graph().notes,
    }
    if target.mesh is not None:
        card["mesh"] = {"cells": target.mesh.describe(), "order": "rho, phi, z (z fastest)",
                        "phi_cell_centres_rad": f"{target.mesh.phi_origin:+.6f} + (j + 0.5) 2 pi / {target.mesh.n_phi}",
                        "z_cell_centre": f"(l + {target.mesh.z_offset_cells:g}) x {target.mesh.z_mm} mm",
                        "deposit_threshold_mev": target.deposit_threshold_mev}
        rho, phi = mesh_conversion(kind.geometry, target)
        card["mesh"]["conversion"] = ("none (same mesh, reordered)" if rho.shape[0] == rho.shape[1]
                                      and phi.shape[0] == phi.shape[1] else
                                      f"rebinned in the graph from {kind.geometry.shape} (area / angle overlap)")
    if target.hits is not None:
        card["hits"] = {"n_layers": target.hits.n_layers, "floats": target.hits.size, "max_hits": target.hits.max_hits,
                        "layout": "counts[n_layers], then (x mm, y mm, layer, E MeV) per hit; DDML negates x, y",
                        "n_hits": "Gaussian in log E (drawn inside the graph)",
                        "not_in_graph": "hepgen's duplicate-hit shifting (DDML sums hits in a cell)"}
    return card


def export_target(run_dir, output, target_name: str, overwrite: bool = False, opset: int = 17) -> dict[str, Any]:
    """Write the run's generator as ``target``'s ONNX graph and its model card (``<output>.card.json``), both
    atomically; returns the card. InputError (one line) when the run cannot meet the target.

    >>> export_target("no/such/run", "m.onnx", "par04")
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: no/such/run: not a hepgen run directory (no config.yaml / preprocessing.json)
    """
    import json
    from pathlib import Path

    from hepgen.data.atomic import atomic_path, check_writable
    from hepgen.training.run import load_run_model

    target = get_target(target_name)
    output = Path(output)
    card_path = card_path_of(output)
    check_writable(output, overwrite)
    check_writable(card_path, overwrite)
    model, kind, config = load_run_model(run_dir)
    module, inputs, names, shapes = target_graph(model, kind, target)
    data = _export(module, inputs, names, target.output_name, opset)
    card = target_card(run_dir, model, kind, config, target, names, shapes)
    card["file"] = output.name
    with atomic_path(output, overwrite) as tmp:
        tmp.write_bytes(data)
    with atomic_path(card_path, overwrite) as tmp:
        tmp.write_text(json.dumps(card, indent=1, default=str))
    return card


def card_path_of(onnx_path):
    """The model card beside an ONNX file: ``model.onnx`` -> ``model.card.json``.

    >>> card_path_of("out/g.onnx").name
    'g.card.json'
    """
    from pathlib import Path

    p = Path(onnx_path)
    return p.with_name(p.stem + ".card.json")
