"""Conformance of an exported target graph: call it exactly as the framework's C++ does and compare with hepgen.

:func:`framework_inputs` builds the input tensors the way the C++ builds them (Par04
``Par04InferenceSetup::GetEnergies``: latent N(0, 1), E / 1,024,000 MeV, theta in degrees / 90, the one-hot;
DDML ``prepareInput``: E / 1000, phi, theta, one-hot, or three [1, 1] tensors with degrees), feeds them in the
session's input order with batch 1 and one intra-op thread (``Par04OnnxInference``, DDML ``ONNXInference``),
and reads only the first output's first ``size`` floats. :func:`unpack_cells` / :func:`unpack_hits` then
undo the output the way the hit makers do (Par04: ``x E``, ``x 1000``; DDML: ``/ CLHEP::GeV``; hits with x and
y negated), keeping only the deposits the C++ keeps (Par04: > 0.0005 MeV; DDML: > 0).

:func:`check_conformance` runs three checks on a run and its exported file:

* **same draws, same shower**: the graph with the draws exposed (for Par04's VAE the file itself) against
  hepgen's own ``model.sample`` for the same seed, after the mesh conversion and reordering: max relative
  deviation <= 1e-4 over every cell (hits: the same multiset of (layer, x, y, E) as hepgen's inverse hit
  transform of the same network output);
* **positions**: the energy-weighted shower centre from the framework's cell positions (its own phi / z
  formulas) equals hepgen's from the geometry's voxel centres (same mesh: 1e-3 mm; rebinned: half a cell);
* **energy sum**: the file itself, called as the C++ calls it (noise drawn inside where the framework passes
  none), deposits on average the same fraction of the requested energy as hepgen's generator at the same
  energies: |mean_fw - mean_hepgen| <= 4 standard errors + 1 % of the mean. The fraction itself is what the
  run's training data hold (calibrated CaloChallenge energies: about 1; raw sampling-calorimeter hits: the
  sampling fraction), and is reported.

>>> [round(float(v), 4) for v in framework_inputs(get_target("par04"), 2048.0, np.pi / 2, 0.0, np.zeros(2))[0][0]]
[0.0, 0.0, 0.002, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hepgen.errors import InputError
from hepgen.training.targets import ANGLE_LABELS, Target, convert_voxels, get_target, label_degrees, mesh_conversion

__all__ = ["framework_inputs", "framework_session", "run_framework", "unpack_cells", "unpack_hits",
           "ConformanceReport", "check_conformance", "ENERGY_RTOL", "ORDER_TOLERANCE"]

ORDER_TOLERANCE = 1e-4   # max relative deviation framework-unpacked vs hepgen, same draws
ENERGY_RTOL = 0.01       # energy-sum agreement: 4 standard errors + this fraction of the mean


def framework_inputs(target: Target, energy_mev: float, theta_rad: float, phi_rad: float,
                     latent: np.ndarray | None = None) -> list[np.ndarray]:
    """The input tensors of one framework call, built as the C++ builds them (float32, batch 1)."""
    values = {"energy": [energy_mev / target.energy_unit_mev], "onehot": list(target.onehot),
              "theta": [theta_rad / target.angle_unit_rad.get("theta", 1.0)],
              "phi": [phi_rad / target.angle_unit_rad.get("phi", 1.0)],
              "latent": list(np.asarray(latent if latent is not None else [], np.float32).reshape(-1))}
    return [np.asarray([sum((values[f] for f in t.fields), [])], np.float32) for t in target.inputs]


def framework_session(model_bytes_or_path):
    """ONNX Runtime session as the frameworks open it: CPU, one intra-op thread, optimisations off
    (``SetGraphOptimizationLevel(ORT_DISABLE_ALL)`` unless their optimise flag is set)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    src = model_bytes_or_path if isinstance(model_bytes_or_path, bytes) else str(model_bytes_or_path)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def run_framework(session, target: Target, inputs: list[np.ndarray], extra: list[np.ndarray] = ()) -> np.ndarray:
    """One call: inputs in the session's order, all outputs requested, the first one read (flat)."""
    names = [i.name for i in session.get_inputs()]
    feeds = dict(zip(names, list(inputs) + list(extra)))
    if len(feeds) != len(names):
        raise InputError(f"target '{target.name}': the graph has {len(names)} inputs, the framework feeds "
                         f"{len(inputs)}")
    return np.asarray(session.run(None, feeds)[0], np.float32).reshape(-1)


def unpack_cells(target: Target, out: np.ndarray, energy_mev: float) -> np.ndarray:
    """Cell energies in MeV as the framework's hit maker receives them (target order), before its threshold."""
    mesh = target.mesh
    assert mesh is not None
    cells = np.asarray(out[:mesh.n_cells], np.float64)
    if target.mev_per_output_unit is None:
        return cells * energy_mev
    return cells * target.mev_per_output_unit


def deposited(target: Target, cells_mev: np.ndarray) -> np.ndarray:
    """The cells the C++ turns into hits (> its threshold), others 0."""
    return np.where(cells_mev > target.deposit_threshold_mev, cells_mev, 0.0)


def unpack_hits(target: Target, out: np.ndarray) -> np.ndarray:
    """(M, 4) hits (x, y, layer, E MeV) as DDML's convertOutput reads them (x, y negated), in output order."""
    lay = target.hits
    assert lay is not None
    counts = out[:lay.n_layers]
    n = int(round(float(counts.sum())))
    body = np.asarray(out[lay.n_layers:lay.n_layers + 4 * n], np.float64).reshape(n, 4)
    return np.column_stack([body[:, 0] * lay.xy_sign, body[:, 1] * lay.xy_sign, body[:, 2], body[:, 3]])


def _cell_positions(target: Target) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, layer) of every cell in target order from the framework's own placement formulas."""
    m = target.mesh
    assert m is not None
    i, j, lz = np.meshgrid(np.arange(m.n_rho), np.arange(m.n_phi), np.arange(m.n_z), indexing="ij")
    rho = (i.ravel() + 0.5) * m.rho_mm
    phi = m.phi_centres()[j.ravel()]
    return rho * np.cos(phi), rho * np.sin(phi), lz.ravel().astype(np.float64)


def _centroid(w: np.ndarray, *coords: np.ndarray) -> np.ndarray:
    s = w.sum()
    return np.array([(w * c).sum() / s for c in coords]) if s > 0 else np.zeros(len(coords))


@dataclass
class ConformanceReport:
    """What :func:`check_conformance` measured."""

    target: str
    order_deviation: float
    centre_offset_mm: float
    centre_tolerance_mm: float
    energy_fraction_framework: float
    energy_fraction_hepgen: float
    energy_tolerance: float
    n_showers: int
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return (self.order_deviation <= ORDER_TOLERANCE and self.centre_offset_mm <= self.centre_tolerance_mm
                and abs(self.energy_fraction_framework - self.energy_fraction_hepgen) <= self.energy_tolerance)

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (f"conformance '{self.target}': same draws max relative deviation {self.order_deviation:.2e} "
                f"(<= {ORDER_TOLERANCE:.0e}); shower centre offset {self.centre_offset_mm:.2e} mm "
                f"(<= {self.centre_tolerance_mm:.2g}); deposited / requested energy "
                f"{self.energy_fraction_framework:.4f}"
                f" framework vs {self.energy_fraction_hepgen:.4f} hepgen (|diff| <= {self.energy_tolerance:.4f}) "
                f"over {self.n_showers} showers. {verdict}")


def _energies(n: int, kind, seed: int) -> np.ndarray:
    scaler = kind.cond.transforms[0].params
    lo, hi = scaler["mean"][0] - scaler["std"][0], scaler["mean"][0] + scaler["std"][0]
    return np.exp(np.random.default_rng(seed).uniform(lo, hi, n))


def check_conformance(run_dir, onnx_path, target_name: str, n_showers: int = 16, seed: int = 0,
                      theta_rad: float | None = None, phi_rad: float = 0.0) -> ConformanceReport:
    """Check an exported target graph against the run it came from (see the module docstring)."""
    import torch

    from hepgen.training.run import load_run_model
    from hepgen.training.targets import target_graph, target_onnx

    target = get_target(target_name)
    model, kind, _ = load_run_model(run_dir)
    file_session = framework_session(onnx_path)
    if target.noise == "latent-input":
        open_session = file_session
    else:
        open_session = framework_session(target_onnx(model, kind, target, open_noise=True)[0])
    _, _, _, shapes = target_graph(model, kind, target)
    energies = _energies(n_showers, kind, seed)
    if theta_rad is None:   # normal incidence in the target's convention
        theta_rad = np.pi / 2 if target.theta_polar else 0.0
    labels = {k: label_degrees(target, k, {"theta": theta_rad, "phi": phi_rad}[f]) for k, f in ANGLE_LABELS.items()}
    if target.data_kind == "points":
        return _check_hits(model, kind, target, file_session, open_session, energies, seed, theta_rad, phi_rad)
    worst, centre = 0.0, 0.0
    fw_frac, ref_frac = [], []
    x, y, lz = _cell_positions(target)
    pos = kind.geometry.voxel_positions()
    layer_of = kind.geometry.voxel_indices()[:, 0].astype(np.float64)
    same_mesh = all(a.shape[0] == a.shape[1] for a in mesh_conversion(kind.geometry, target))
    for i, e in enumerate(energies):
        lab = {k: np.array([labels[k]]) for k in kind.labels}
        cond = torch.as_tensor(kind.encode_cond(np.array([e]), lab))
        with torch.random.fork_rng(), torch.inference_mode():
            torch.manual_seed(seed + i)
            draws = [t.numpy() for t in model.export_graph().noise(cond, torch.Generator().manual_seed(seed + i))]
            torch.manual_seed(seed + i)
            ref = model.sample(cond, torch.Generator().manual_seed(seed + i))
            ref_mev = kind.data.inverse(ref.reshape(1, -1), torch.tensor([e], dtype=torch.float32)).clamp_min(0)
        ref_mev = ref_mev.numpy().astype(np.float64)
        ref_cells = convert_voxels(ref_mev, kind.geometry, target)[0]
        if target.noise == "latent-input":
            latent = np.concatenate([d.reshape(-1) for d in draws])
            out = run_framework(open_session, target, framework_inputs(target, e, theta_rad, phi_rad, latent))
        else:
            out = run_framework(open_session, target, framework_inputs(target, e, theta_rad, phi_rad),
                                [d.astype(np.float32) for d in draws])
        cells = unpack_cells(target, out, e)
        scale = max(float(np.abs(ref_cells).max()), 1e-30)
        worst = max(worst, float(np.abs(cells - ref_cells).max()) / scale)
        c_fw = _centroid(deposited(target, cells), x, y, lz)
        w_ref = np.where(ref_mev[0] > target.deposit_threshold_mev, ref_mev[0], 0.0) if same_mesh else ref_mev[0]
        c_ref = _centroid(w_ref, pos["eta"], pos["phi"], layer_of)
        centre = max(centre, float(np.abs(c_fw - c_ref)[:2].max()), float(abs(c_fw[2] - c_ref[2])))
        # the file, called exactly as the C++ calls it (noise inside where the framework gives none)
        rng = np.random.default_rng(seed + 1000 + i)
        latent = rng.standard_normal(sum(int(np.prod(s)) for s in shapes)) if target.noise == "latent-input" else None
        out = run_framework(file_session, target, framework_inputs(target, e, theta_rad, phi_rad, latent))
        fw_frac.append(deposited(target, unpack_cells(target, out, e)).sum() / e)
        with torch.inference_mode():
            s = model.sample(cond, torch.Generator().manual_seed(seed + 2000 + i))
            s_mev = kind.data.inverse(s.reshape(1, -1), torch.tensor([e], dtype=torch.float32)).clamp_min(0).numpy()
        ref_frac.append(deposited(target, convert_voxels(s_mev, kind.geometry, target)[0]).sum() / e)
    return _report(target, worst, centre, 1e-3 if same_mesh else 0.5 * target.mesh.rho_mm, fw_frac, ref_frac)


def _report(target, worst, centre, centre_tol, fw_frac, ref_frac) -> ConformanceReport:
    fw, ref = np.asarray(fw_frac), np.asarray(ref_frac)
    se = np.sqrt(fw.var(ddof=1) / len(fw) + ref.var(ddof=1) / len(ref)) if len(fw) > 1 else 0.0
    tol = 4 * float(se) + ENERGY_RTOL * float(abs(ref.mean()))
    return ConformanceReport(target.name, worst, centre, centre_tol, float(fw.mean()), float(ref.mean()), tol,
                             len(fw), {"energy_fraction_std": float(fw.std())})


def _check_hits(model, kind, target, file_session, open_session, energies, seed, theta_rad, phi_rad):
    """Hit-list targets: same network output -> same hits as hepgen's inverse hit transform; energy sums."""
    import torch

    geo = kind.geometry
    worst, centre = 0.0, 0.0
    fw_frac, ref_frac = [], []
    pos = geo.voxel_positions()
    n_z, n_y, n_x = geo.shape
    gx = pos["x"].reshape(n_z, n_y, n_x)[0, 0, :]
    gy = pos["y"].reshape(n_z, n_y, n_x)[0, :, 0]
    graph = model.export_graph()
    for i, e in enumerate(energies):
        rng = np.random.default_rng(seed + i)
        n0 = int(kind.sample_n_hits(np.array([e]), rng)[0])
        cond = torch.as_tensor(kind.encode_cond(np.array([e]), {"n_hits": np.array([n0])}))
        with torch.random.fork_rng(), torch.inference_mode():
            torch.manual_seed(seed + i)
            draws = [t.numpy().astype(np.float32) for t in graph.noise(cond, torch.Generator().manual_seed(seed + i))]
        z0 = np.array([[rng.standard_normal()]], np.float32)
        out = run_framework(open_session, target, framework_inputs(target, e, theta_rad, phi_rad), [z0] + draws)
        hits = unpack_hits(target, out)
        n = len(hits)
        c = torch.as_tensor(kind.encode_cond(np.array([e]), {"n_hits": np.array([n])}))
        with torch.inference_mode():
            x = graph.network(c, *[torch.as_tensor(d) for d in draws]).numpy()[0]
        mask = x[:, 4] > 0.5
        energy, idx = kind.hits.inverse(x[mask][:, :4])
        ref = np.column_stack([gx[idx[:, 2]], gy[idx[:, 1]], idx[:, 0], energy]).astype(np.float64)
        if len(ref) != n:
            worst = max(worst, 1.0)
            continue
        key = np.lexsort(ref.T[::-1])
        got = hits[np.lexsort(hits.T[::-1])]
        scale = max(float(np.abs(ref).max()), 1e-30)
        worst = max(worst, float(np.abs(got - ref[key]).max()) / scale if n else 0.0)
        centre = max(centre, float(np.abs(_centroid(hits[:, 3], hits[:, 0], hits[:, 1], hits[:, 2])
                                          - _centroid(ref[:, 3], ref[:, 0], ref[:, 1], ref[:, 2])).max()))
        out = run_framework(file_session, target, framework_inputs(target, e, theta_rad, phi_rad))
        fw_frac.append(unpack_hits(target, out)[:, 3].sum() / e)
        nr = int(kind.sample_n_hits(np.array([e]), np.random.default_rng(seed + 2000 + i))[0])
        cr = torch.as_tensor(kind.encode_cond(np.array([e]), {"n_hits": np.array([nr])}))
        with torch.inference_mode():
            xs = model.sample(cr, torch.Generator().manual_seed(seed + 2000 + i)).numpy()[0]
        en, _ = kind.hits.inverse(xs[xs[:, 4] > 0.5][:, :4])
        ref_frac.append(float(en.sum()) / e)
    return _report(target, worst, centre, 1e-3, fw_frac, ref_frac)
