"""Malformed input files for the fuzz test (tests/test_fuzz_inputs.py) and its larger run
(benchmarks/bench_fuzz_inputs.py): mutations of small valid CaloChallenge, ILD, hepgen point-cloud and
JetNet (HDF5, .npy, .npz) files, each with the verdict a correct reader must reach.

Verdicts: ``valid`` (every command accepts it), ``invalid`` (every command refuses it with one
InputError line), ``implausible`` (``convert`` refuses it; ``info`` and ``evaluate`` accept it with a
warning) and ``either`` (a random corruption that may or may not hit something that matters: a clean
refusal or an acceptance are both right).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

from hepgen.data import JetData, ShowerData, write_jets, write_showers
from hepgen.data.convert import convert_file
from hepgen.geometry import get_geometry

VALID, INVALID, IMPLAUSIBLE, EITHER = "valid", "invalid", "implausible", "either"


@dataclass
class Case:
    """One generated file: its path, the base format, the mutation class and the expected verdict."""

    path: Path
    fmt: str          # calochallenge, ild, points, jetnet-h5, jetnet-npy, jetnet-npz
    kind: str         # mutation class, e.g. "truncate", "nan-voxel"
    verdict: str
    reference: Path   # a valid file of the same format (for evaluate)


def _showers(geometry: str, n: int, seed: int) -> ShowerData:
    rng = np.random.default_rng(seed)
    geo = get_geometry(geometry)
    inc = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))
    e = rng.exponential(1.0, (n, geo.n_voxels)) * (rng.random((n, geo.n_voxels)) < 0.3)
    e[:, 0] += 1.0
    e *= (0.5 * inc / e.sum(1))[:, None]
    return ShowerData(inc, e.astype(np.float32), geo)


def _jets(n: int, slots: int, seed: int) -> JetData:
    rng = np.random.default_rng(seed)
    p = np.zeros((n, slots, 4), np.float32)
    for i in range(n):
        k = rng.integers(2, slots + 1)
        p[i, :k, 0] = rng.normal(0, 0.1, k)
        p[i, :k, 1] = rng.normal(0, 0.1, k)
        pt = rng.exponential(1.0, k)
        p[i, :k, 2] = pt / pt.sum()
        p[i, :k, 3] = 1
    return JetData(p, jet_type="t")


def base_files(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Valid small files of every format in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"calochallenge": folder / "base_cc.h5", "ild": folder / "base_ild.h5", "points": folder / "base_points.h5",
           "jetnet-h5": folder / "base_jets.h5", "jetnet-npy": folder / "base_jets.npy",
           "jetnet-npz": folder / "base_jets.npz"}
    if all(p.exists() for p in out.values()):
        return out
    cc = _showers("belle2-ecl-5x5", 24, seed)
    cc.labels["incidence_angle"] = np.linspace(0.1, 0.5, 24)
    write_showers(out["calochallenge"], cc, overwrite=True)
    write_showers(out["ild"], _showers("ild-ecal", 10, seed + 1), layout="ild", overwrite=True)
    convert_file(out["calochallenge"], out["points"], to="points", overwrite=True)
    jets = _jets(24, 8, seed + 2)
    for k in ("jetnet-h5", "jetnet-npy", "jetnet-npz"):
        write_jets(out[k], jets, overwrite=True)
    return out


# -- mutations of HDF5 files (edit a copy in place) ---------------------------------------------------------
def _replace(h5: h5py.File, name: str, data=None, **kw) -> None:
    del h5[name]
    if data is None:
        h5.create_dataset(name, **kw)
    else:
        h5.create_dataset(name, data=data, **kw)


def _set_value(name: str, value, row: int = 1, col=0, dtype=None):
    """Set one entry (row ``row``, or a random row in repetitions after the first) to ``value``."""
    def f(h5: h5py.File, rng, rep: int = 0) -> None:
        a = h5[name][()]
        a = a.astype(dtype) if dtype is not None else a
        if rep:
            row_ = int(rng.integers(0, len(a)))
            return _put(h5, name, a, row_, col, value)
        return _put(h5, name, a, row, col, value)
    return f


def _put(h5, name, a, row, col, value) -> None:
    idx = (row,) + ((col,) if a.ndim > 1 and col is not None else ())
    if a.ndim > 2 and col is not None:
        idx = (row,) + tuple(np.unravel_index(col, a.shape[1:]))
    a[idx] = value
    _replace(h5, name, a)


def _cast(name: str, dtype):
    def f(h5, rng):
        a = h5[name][()]
        if np.dtype(dtype).kind == "S":
            a = a.astype(str).astype(dtype)
        elif np.dtype(dtype).kind == "V":
            a = np.zeros(a.shape, [("x", "f4"), ("y", "f4")])
        else:
            a = a.astype(dtype)
        _replace(h5, name, a)
    return f


def _scale(name: str, factor: float, every: int = 1):
    def f(h5, rng):
        a = h5[name][()].astype(np.float64)
        a[::every] = a[::every] * factor
        _replace(h5, name, a)
    return f


def _delete(name: str):
    def f(h5, rng):
        del h5[name]
    return f


def _to_group(name: str):
    def f(h5, rng):
        del h5[name]
        h5.create_group(name).create_dataset("x", data=np.zeros(3))
    return f


def _reshape(name: str, shape_of: Callable[[tuple], tuple]):
    def f(h5, rng):
        a = h5[name][()]
        shape = shape_of(a.shape)
        b = np.resize(a.reshape(-1), int(np.prod(shape))).reshape(shape) if shape else np.float64(a.reshape(-1)[0])
        _replace(h5, name, b)
    return f


def _soft_dangling(name: str):
    def f(h5, rng):
        del h5[name]
        h5[name] = h5py.SoftLink("/does/not/exist")
    return f


def _soft_valid(name: str):
    def f(h5, rng):
        h5.move(name, name + "_stored")
        h5[name] = h5py.SoftLink("/" + name + "_stored")
    return f


def _external_link(name: str, target: str | None):
    def f(h5, rng):
        a = h5[name][()]
        del h5[name]
        if target is None:
            h5[name] = h5py.ExternalLink("missing_file.h5", "/x")
            return
        other = Path(h5.filename).with_suffix(".ext.h5")
        with h5py.File(other, "w") as o:
            o["x"] = a
        h5[name] = h5py.ExternalLink(other.name, "/x")
    return f


def _external_raw(name: str, source: str):
    """A dataset whose bytes live in another file (``source``: 'text' = a text file, as /etc/passwd was)."""
    def f(h5, rng):
        a = h5[name][()].astype(np.float32)
        del h5[name]
        raw = Path(h5.filename).with_suffix(".raw")
        raw.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * (a.nbytes // 32 + 1) if source == "text"
                        else a.tobytes())
        h5.create_dataset(name, shape=a.shape, dtype="f4", external=[(raw.name, 0, a.nbytes)])
    return f


def _virtual(name: str, source_present: bool):
    def f(h5, rng):
        a = h5[name][()].astype(np.float32)
        del h5[name]
        src = Path(h5.filename).with_suffix(".src.h5")
        if source_present:
            with h5py.File(src, "w") as o:
                o["x"] = a
        layout = h5py.VirtualLayout(shape=a.shape, dtype="f4")
        layout[...] = h5py.VirtualSource(src.name, "x", shape=a.shape)
        h5.create_virtual_dataset(name, layout, fillvalue=0)
    return f


def _attr(key: str, value):
    def f(h5, rng):
        h5.attrs[key] = value
    return f


def _extra(h5, rng):
    h5["unrelated/notes"] = np.arange(5)
    h5.attrs["comment"] = "made by hand"


def _labels(mode: str):
    def f(h5, rng):
        n = h5["incident_energies"].shape[0] if "incident_energies" in h5 else 12
        if "labels" in h5:
            del h5["labels"]
        if mode == "all-nan":
            h5["labels/angle"] = np.full(n, np.nan)
        elif mode == "one-inf":
            a = np.linspace(0, 1, n)
            a[3] = np.inf
            h5["labels/angle"] = a
        elif mode == "short":
            h5["labels/angle"] = np.zeros(n - 1)
        elif mode == "string":
            h5["labels/angle"] = np.array([b"x"] * n)
        elif mode == "dataset":
            h5["labels"] = np.zeros(n)
        elif mode == "2d":
            h5["labels/angle"] = np.zeros((n, 3))
        elif mode == "valid-int":
            h5["labels/pid"] = np.arange(n)
    return f


# -- byte-level mutations (any file) ----------------------------------------------------------------------
def _truncate(path: Path, rng) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * rng.uniform(0.05, 0.95))])


def _flip_header(path: Path, rng) -> None:
    data = bytearray(path.read_bytes())
    for _ in range(int(rng.integers(1, 6))):
        i = int(rng.integers(0, min(len(data), 2048)))
        data[i] ^= int(rng.integers(1, 256))
    path.write_bytes(bytes(data))


def _empty(path: Path, rng) -> None:
    path.write_bytes(b"")


def _garbage(path: Path, rng) -> None:
    path.write_bytes(rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes())


def _text(path: Path, rng) -> None:
    path.write_text("incident_energies,showers\n1,2\n")


def _directory(path: Path, rng) -> None:
    path.unlink()
    path.mkdir()


def _symlink_loop(path: Path, rng) -> None:
    path.unlink()
    other = path.with_name(path.name + ".loop")
    os.symlink(other.name, path)
    os.symlink(path.name, other)


def _symlink_dangling(path: Path, rng) -> None:
    path.unlink()
    os.symlink("nowhere.h5", path)


BYTES = [("truncate", _truncate, INVALID), ("flip-header", _flip_header, EITHER), ("empty", _empty, INVALID),
         ("garbage", _garbage, INVALID), ("text", _text, INVALID), ("directory", _directory, INVALID),
         ("symlink-loop", _symlink_loop, INVALID), ("symlink-dangling", _symlink_dangling, INVALID)]


def _shower_mutations(inc: str, sh: str, ild: bool) -> list[tuple[str, Callable, str]]:
    v = [
        ("missing-incident", _delete(inc), INVALID), ("missing-showers", _delete(sh), INVALID),
        ("showers-group", _to_group(sh), INVALID), ("incident-group", _to_group(inc), INVALID),
        ("complex-showers", _cast(sh, np.complex64), INVALID), ("bool-showers", _cast(sh, bool), INVALID),
        ("uint8-showers", _cast(sh, np.uint8), INVALID), ("string-showers", _cast(sh, "S8"), INVALID),
        ("compound-showers", _cast(sh, "V"), INVALID), ("string-incident", _cast(inc, "S8"), INVALID),
        ("complex-incident", _cast(inc, np.complex128), INVALID), ("bool-incident", _cast(inc, bool), INVALID),
        ("float16-showers", _cast(sh, np.float16), VALID), ("float64-showers", _cast(sh, np.float64), VALID),
        ("int-incident", _cast(inc, np.int64), VALID),
        ("nan-voxel", _set_value(sh, np.nan, 2, 3), INVALID), ("inf-voxel", _set_value(sh, np.inf, 4, 0), INVALID),
        ("negative-voxel", _set_value(sh, -5.0, 1, 2), INVALID),
        ("tiny-negative-voxel", _set_value(sh, -1e-9, 1, 7), VALID),
        ("float64-overflow", _set_value(sh, 1e39, 3, 1, np.float64), INVALID),
        ("nan-incident", _set_value(inc, np.nan, 5), INVALID), ("inf-incident", _set_value(inc, np.inf, 0), INVALID),
        ("zero-incident", _set_value(inc, 0.0, 2), INVALID), ("negative-incident", _set_value(inc, -1e3, 6), INVALID),
        ("huge-incident", _set_value(inc, 1e30, 1), IMPLAUSIBLE),
        ("tiny-incident", _set_value(inc, 1e-300, 1), IMPLAUSIBLE),
        ("huge-voxel", _set_value(sh, 1e30, 1, 4), IMPLAUSIBLE),
        ("scalar-incident", _reshape(inc, lambda s: ()), INVALID),
        ("incident-too-long", _reshape(inc, lambda s: (s[0] + 1,) + s[1:]), INVALID),
        ("incident-2-columns", _reshape(inc, lambda s: (s[0], 2)), INVALID),
        ("showers-1d", _reshape(sh, lambda s: (s[0],)), INVALID),
        ("showers-extra-voxel", _reshape(sh, lambda s: (s[0], int(np.prod(s[1:])) + 1)), INVALID),
        ("no-showers", _reshape(sh, lambda s: (0,) + s[1:]), INVALID),
        ("dangling-soft-link", _soft_dangling(sh), INVALID), ("soft-link", _soft_valid(sh), VALID),
        ("external-link-missing", _external_link(sh, None), INVALID),
        ("external-link", _external_link(sh, "present"), INVALID),
        ("external-raw-text", _external_raw(sh, "text"), INVALID),
        ("external-raw-data", _external_raw(sh, "data"), INVALID),
        ("virtual-missing-source", _virtual(sh, False), INVALID), ("virtual", _virtual(sh, True), INVALID),
        ("extra-datasets", _extra, VALID),
        ("geometry-spec-bad-json", _attr("geometry_spec", "{not json"), INVALID),
        ("geometry-spec-bad-values", _attr("geometry_spec", '{"type": "cartesian", "name": "x", "nx": "a"}'), INVALID),
        ("geometry-spec-number", _attr("geometry_spec", 5), INVALID),
        ("geometry-spec-list", _attr("geometry_spec", "[1, 2]"), INVALID),
        ("geometry-unknown-name", _attr("geometry", "no-such-detector"), VALID),
    ]
    if not ild:  # incident energies in MeV: a response check
        v += [("shower-50x", _one_shower_times(sh, inc, 50.0), IMPLAUSIBLE),
              ("every-third-gev", _scale(inc, 1e-3, every=3), IMPLAUSIBLE),
              ("all-gev", _scale(inc, 1e-3), IMPLAUSIBLE)]
        v += [(f"labels-{m}", _labels(m), VALID if m.startswith("valid") else INVALID)
              for m in ("all-nan", "one-inf", "short", "string", "dataset", "2d", "valid-int")]
    else:
        v += [("shower-50x", _one_shower_times(sh, inc, 50.0 * 1e3), IMPLAUSIBLE),
              ("incident-in-tev", _scale(inc, 1e-3), IMPLAUSIBLE)]
    return v


def _one_shower_times(sh: str, inc: str, times: float):
    """Shower 2 holds ``times`` x its incident energy (``inc`` in the file's unit; ILD: times includes 1e3)."""
    def f(h5, rng):
        a = h5[sh][()].astype(np.float32)
        e = float(np.reshape(h5[inc][()], -1)[2])
        a[2] = a[2] / a[2].sum() * e * times
        _replace(h5, sh, a)
    return f


def _point_mutations() -> list[tuple[str, Callable, str]]:
    return [
        ("missing-n-hits", _delete("n_hits"), INVALID), ("hits-group", _to_group("hits/energy"), INVALID),
        ("n-hits-sum", _set_value("n_hits", 1000, 0), INVALID), ("n-hits-negative", _set_value("n_hits", -1, 0), INVALID),
        ("n-hits-float", _cast("n_hits", np.float64), INVALID),
        ("index-out-of-range", _set_value("hits/indices", 99, 3, 1), INVALID),
        ("index-negative", _set_value("hits/indices", -1, 0, 2), INVALID),
        ("index-float", _cast("hits/indices", np.float32), INVALID),
        ("nan-hit", _set_value("hits/energy", np.nan, 4), INVALID),
        ("overflow-hit", _set_value("hits/energy", 1e39, 4, None, np.float64), INVALID),
        ("complex-hit", _cast("hits/energy", np.complex64), INVALID),
        ("negative-hit", _set_value("hits/energy", -3.0, 2), INVALID),
        ("huge-hit", _set_value("hits/energy", 1e30, 2), INVALID),   # points are read strictly
        ("nan-incident", _set_value("incident_energies", np.nan, 1), INVALID),
        ("no-geometry", _attr("geometry", "nothing"), INVALID),
        ("geometry-spec-bad-json", _attr("geometry_spec", "{"), INVALID),
        ("external-raw-text", _external_raw("hits/energy", "text"), INVALID),
        ("virtual-missing-source", _virtual("hits/energy", False), INVALID),
        ("dangling-soft-link", _soft_dangling("hits/energy"), INVALID),
        ("extra-datasets", _extra, VALID),
    ]


def _jet_h5_mutations() -> list[tuple[str, Callable, str]]:
    pf, jf = "particle_features", "jet_features"
    return [
        ("missing-particles", _delete(pf), INVALID), ("particles-group", _to_group(pf), INVALID),
        ("nan-particle", _set_value(pf, np.nan, 1, 0), INVALID), ("inf-particle", _set_value(pf, np.inf, 1, 5), INVALID),
        ("negative-pt-rel", _set_value(pf, -0.5, 2, 2), INVALID), ("mask-half", _set_value(pf, 0.5, 3, 3), INVALID),
        ("overflow-particle", _set_value(pf, 1e39, 1, 0, np.float64), INVALID),
        ("complex-particles", _cast(pf, np.complex64), INVALID), ("string-particles", _cast(pf, "S8"), INVALID),
        ("bool-particles", _cast(pf, bool), INVALID),
        ("particles-3-features", _reshape(pf, lambda s: s[:-1] + (3,)), INVALID),
        ("nan-jet-pt", _set_value(jf, np.nan, 1, 0), INVALID), ("inf-jet-pt", _set_value(jf, np.inf, 1, 0), INVALID),
        ("negative-jet-pt", _set_value(jf, -1.0, 1, 0), INVALID),
        ("n-above-max", _set_value(jf, 500.0, 2, 3), INVALID), ("n-negative", _set_value(jf, -2.0, 2, 3), INVALID),
        ("n-fraction", _set_value(jf, 2.5, 2, 3), INVALID),
        ("jets-wrong-shape", _reshape(jf, lambda s: (s[0], 3)), INVALID),
        ("jets-string", _cast(jf, "S8"), INVALID),
        ("float64-particles", _cast(pf, np.float64), VALID), ("missing-jet-features", _delete(jf), VALID),
        ("external-raw-text", _external_raw(pf, "text"), INVALID),
        ("virtual-missing-source", _virtual(pf, False), INVALID),
        ("dangling-soft-link", _soft_dangling(pf), INVALID), ("extra-datasets", _extra, VALID),
    ]


def _npy(kind: str):
    def f(path: Path, rng):
        p = np.load(path)
        if kind == "object":
            np.save(path, np.array([p[0], None], dtype=object), allow_pickle=True)
        elif kind == "complex":
            np.save(path, p.astype(np.complex64))
        elif kind == "bool":
            np.save(path, p.astype(bool))
        elif kind == "2d":
            np.save(path, p[:, :, 0])
        elif kind == "nan":
            p[1, 0, 0] = np.nan
            np.save(path, p)
        elif kind == "overflow":
            p = p.astype(np.float64)
            p[1, 0, 1] = 1e39
            np.save(path, p)
        elif kind == "negative-pt":
            p[2, 0, 2] = -1
            np.save(path, p)
        elif kind == "float64":
            np.save(path, p.astype(np.float64))
        elif kind == "hdf5-inside":
            path.unlink()
            with h5py.File(path, "w") as h5:
                h5["particle_features"] = p
        elif kind == "string":
            np.save(path, np.array(["a", "b"]))
        elif kind == "structured":
            np.save(path, np.zeros(4, [("x", "f4")]))
    return f


def _npz(kind: str):
    def f(path: Path, rng):
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
        pf, jf = d["particle_features"], d["jet_features"]
        if kind == "missing-particles":
            d = {"jet_features": jf}
        elif kind == "nan-jet":
            jf[1, 0] = np.nan
        elif kind == "negative-jet-pt":
            jf[1, 0] = -3
        elif kind == "n-above-max":
            jf[0, 3] = 99
        elif kind == "nan-particle":
            pf[0, 0, 0] = np.nan
        elif kind == "jets-wrong-length":
            d["jet_features"] = jf[:-1]
        elif kind == "complex-jets":
            d["jet_features"] = jf.astype(np.complex64)
        elif kind == "extra-array":
            d["notes"] = np.arange(3)
        with open(path, "wb") as fh:
            np.savez(fh, **d)
    return f


def _npz_object(path: Path, rng):
    import io
    import zipfile

    with np.load(path) as z:
        pf = z["particle_features"]
    arr = np.array([pf[0], None], dtype=object)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("particle_features.npy", buf.getvalue())


NPY = [(k, _npy(k), VALID if k == "float64" else INVALID) for k in
       ("object", "complex", "bool", "2d", "nan", "overflow", "negative-pt", "float64", "hdf5-inside", "string",
        "structured")]
NPZ = [(k, _npz(k), VALID if k == "extra-array" else INVALID) for k in
       ("missing-particles", "nan-jet", "negative-jet-pt", "n-above-max", "nan-particle", "jets-wrong-length",
        "complex-jets", "extra-array")] + [("object", _npz_object, INVALID)]


def mutations(fmt: str) -> list[tuple[str, Callable, str, bool]]:
    """(class, function, verdict, is_hdf5_edit) for one format."""
    byte = [(k, f, v, False) for k, f, v in BYTES]
    if fmt == "calochallenge":
        return byte + [(k, f, v, True) for k, f, v in _shower_mutations("incident_energies", "showers", False)]
    if fmt == "ild":
        return byte + [(k, f, v, True) for k, f, v in _shower_mutations("30x30/energy", "30x30/layers", True)]
    if fmt == "points":
        return byte + [(k, f, v, True) for k, f, v in _point_mutations()]
    if fmt == "jetnet-h5":
        return byte + [(k, f, v, True) for k, f, v in _jet_h5_mutations()]
    if fmt == "jetnet-npy":
        return byte + [(k, f, v, False) for k, f, v in NPY]
    return byte + [(k, f, v, False) for k, f, v in NPZ]


def make_cases(folder: Path, seeds: int = 1, random_seeds: int = 2, seed: int = 0,
               formats: tuple[str, ...] = ("calochallenge", "ild", "points", "jetnet-h5", "jetnet-npy", "jetnet-npz"),
               ) -> list[Case]:
    """Every mutation of every format, ``seeds`` times (random byte-level mutations ``random_seeds`` times
    as often), plus the unmutated base files (verdict valid)."""
    bases = base_files(folder / "base", seed)
    rng = np.random.default_rng(seed)
    cases = [Case(bases[f], f, "unmutated", VALID, bases[f]) for f in formats]
    for fmt in formats:
        base = bases[fmt]
        for kind, func, verdict, is_h5 in mutations(fmt):
            random = kind in ("truncate", "flip-header", "garbage")
            for rep in range(seeds * (random_seeds if random else 1)):
                sub = folder / fmt / f"{kind}-{rep}"
                sub.mkdir(parents=True, exist_ok=True)
                path = sub / base.name
                shutil.copy(base, path)
                if is_h5:
                    with h5py.File(path, "a") as h5:
                        func(h5, rng, rep) if "rep" in func.__code__.co_varnames else func(h5, rng)
                else:
                    func(path, rng)
                cases.append(Case(path, fmt, kind, verdict, base))
    return cases


# -- running the commands in-process ------------------------------------------------------------------------
ACCEPTED, REFUSED, TRACEBACK, HANG, UNCLEAN = "accepted", "refused", "traceback", "hang", "unclean"


@dataclass
class Outcome:
    """What one command did with one file."""

    command: str
    status: str       # accepted (exit 0), refused (exit 2, one 'hepgen: error:' line), traceback, hang, unclean
    stderr: str
    detail: str = ""


class _Timeout(Exception):
    pass


def run_cli(argv: list[str], timeout_s: int = 60) -> tuple[str, str, str]:
    """Run ``hepgen ARGV`` in this process: (status, stdout, stderr); see :class:`Outcome`."""
    import contextlib
    import io
    import signal
    import traceback

    from hepgen.cli import main

    out, err = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(timeout_s)
    code: object = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as exc:
                code = exc.code
    except _Timeout:
        return HANG, out.getvalue(), err.getvalue()
    except BaseException:  # noqa: BLE001 - the point of the fuzz test
        return TRACEBACK, out.getvalue(), err.getvalue() + traceback.format_exc()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    stderr = err.getvalue()
    if code in (0, None):
        return ACCEPTED, out.getvalue(), stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("hepgen: error: ")]
    if code == 2 and len(errors) == 1 and "Traceback" not in stderr:
        return REFUSED, out.getvalue(), stderr
    return UNCLEAN, out.getvalue(), stderr


JET_EVAL = ["--n-eval", "16", "--batches", "2", "--fpd-min", "8", "--fpd-max", "16", "--kpd-batch", "8"]


def run_case(case: Case, work: Path, figures: bool = False) -> list[Outcome]:
    """``info``, ``convert`` and ``evaluate`` (``evaluate-jets`` for jets) of one case."""
    import json

    work.mkdir(parents=True, exist_ok=True)
    src = str(case.path)
    jets = case.fmt.startswith("jetnet")
    suffix = {"jetnet-npy": ".npy", "jetnet-npz": ".npz"}.get(case.fmt, ".h5")
    outcomes = []
    status, _, err = run_cli(["-q", "info", src])
    outcomes.append(Outcome("info", status, err))
    target = work / f"converted{suffix}"
    status, _, err = run_cli(["-q", "convert", src, str(target), "--to", "jetnet" if jets else "calochallenge",
                              "--overwrite"])
    outcomes.append(Outcome("convert", status, err))
    if jets:
        argv = ["-q", "evaluate-jets", str(case.reference), src, *JET_EVAL, "-o", str(work / "jets_report"),
                "--overwrite"]
    else:
        argv = ["-q", "evaluate", str(case.reference), src, "-o", str(work / "report"), "--no-classifier",
                "--workers", "1", "--overwrite", "--chunk-size", "10"] + ([] if figures else ["--no-figures"])
    status, _, err = run_cli(argv)
    detail = ""
    if status == ACCEPTED and not jets:
        metrics = json.loads((work / "report" / "metrics.json").read_text())
        page = (work / "report" / "index.html").read_text()
        detail = f"warnings={len(metrics.get('warnings', []))} box={'class=' + chr(39) + 'warnings' in page}"
    outcomes.append(Outcome("evaluate", status, err, detail))
    if case.fmt == "points":
        from hepgen.data import read_points
        from hepgen.errors import InputError
        import traceback

        try:
            read_points(case.path)
            outcomes.append(Outcome("read_points", ACCEPTED, ""))
        except InputError as exc:
            ok = "\n" not in str(exc)
            outcomes.append(Outcome("read_points", REFUSED if ok else UNCLEAN, f"hepgen: error: {exc}"))
        except Exception:  # noqa: BLE001
            outcomes.append(Outcome("read_points", TRACEBACK, traceback.format_exc()))
    return outcomes


def judge(case: Case, outcomes: list[Outcome]) -> list[str]:
    """Problems with these outcomes given the case's verdict (empty: all right)."""
    problems = []
    for o in outcomes:
        if o.status in (TRACEBACK, HANG, UNCLEAN):
            problems.append(f"{o.command}: {o.status}: {o.stderr.strip()[-600:]}")
            continue
        # point-cloud files are read by read_points; the voxel commands refuse them (cleanly) as not voxels
        if case.fmt == "points" and o.command != "read_points":
            if o.status != REFUSED:
                problems.append(f"{o.command}: accepted a point-cloud file")
            continue
        want = {VALID: ACCEPTED, INVALID: REFUSED, EITHER: None}.get(case.verdict)
        if case.verdict == IMPLAUSIBLE:
            want = REFUSED if o.command in ("convert", "read_points") else ACCEPTED
            # evaluate compares the incident-energy range both files cover and refuses only a real mismatch
            # (more than 10 % of either sample outside): GeV-like incident energies are one
            if (o.command == "evaluate" and o.status == REFUSED
                    and "expected matching incident-energy distributions" in o.stderr):
                want = REFUSED
            if o.status == ACCEPTED and o.command == "info" and "hepgen: warning:" not in o.stderr:
                problems.append("info: no warning on stderr")
            if o.status == ACCEPTED and o.command == "evaluate" and (
                    "hepgen: warning:" not in o.stderr or "warnings=0" in o.detail or "box=False" in o.detail):
                problems.append(f"evaluate: warning missing ({o.detail})")
        if want is not None and o.status != want:
            problems.append(f"{o.command}: {o.status}, expected {want}: {o.stderr.strip()[-300:]}")
    return problems
