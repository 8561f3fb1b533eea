"""Malformed input files end in one clean InputError line (exit 2) or are accepted because they are valid.

The corpus (tests/fuzz_corpus.py) mutates small valid CaloChallenge, ILD, point-cloud and JetNet
(HDF5/.npy/.npz) files: truncation, header byte flips, wrong dtypes and shapes, NaN/inf/huge/negative
values, missing and extra datasets, links, external and virtual storage, labels, geometry_spec. Every
file runs through ``info``, ``convert`` and ``evaluate`` (``evaluate-jets`` for jets) in this process.
benchmarks/bench_fuzz_inputs.py runs the same corpus with more random mutations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fuzz_corpus as fc  # noqa: E402

from hepgen.data import ShowerData, read_jets, read_showers, write_showers  # noqa: E402
from hepgen.data.validate import LENIENT, Validator  # noqa: E402
from hepgen.errors import InputError  # noqa: E402

FORMATS = ("calochallenge", "ild", "points", "jetnet-h5", "jetnet-npy", "jetnet-npz")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[fc.Case]:
    return fc.make_cases(tmp_path_factory.mktemp("fuzz"), seeds=1, random_seeds=2, seed=0)


@pytest.fixture
def cheap_fpd(monkeypatch):
    """FPD's resampled batches of 10k-50k rows dominate a report of 24 showers; smaller batches, same code."""
    from hepgen.evaluate.distances import CALOCHALLENGE_FPD

    monkeypatch.setitem(CALOCHALLENGE_FPD, "min_samples", 200)
    monkeypatch.setitem(CALOCHALLENGE_FPD, "max_samples", 400)


def test_corpus_is_large_and_covers_every_class(corpus):
    assert len(corpus) >= 200
    verdicts = {c.verdict for c in corpus}
    assert verdicts == {fc.VALID, fc.INVALID, fc.IMPLAUSIBLE, fc.EITHER}
    assert {c.fmt for c in corpus} == set(FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_malformed_file_is_refused_cleanly_or_valid(corpus, tmp_path, fmt, cheap_fpd):
    problems = []
    for i, case in enumerate(c for c in corpus if c.fmt == fmt):
        outcomes = fc.run_case(case, tmp_path / str(i))
        problems += [f"{case.kind} ({case.verdict}): {p}" for p in fc.judge(case, outcomes)]
    assert not problems, "\n".join(problems)


# -- the reproduced findings, one by one ------------------------------------------------------------------
def _cc(tmp_path, n=6, name="a.h5", **changes) -> Path:
    rng = np.random.default_rng(1)
    inc = np.full(n, 1e4)
    e = rng.exponential(1.0, (n, 25)).astype(np.float32)
    path = tmp_path / name
    write_showers(path, ShowerData(inc, e, "belle2-ecl-5x5"))
    with h5py.File(path, "a") as h5:
        for key, value in changes.items():
            del h5[key]
            h5[key] = value
    return path


def test_float64_overflow_is_refused_after_the_cast(tmp_path):
    e = np.ones((6, 25))
    e[3, 2] = 1e39
    with pytest.raises(InputError, match=r"index 3: voxel energy 1e\+39 overflows float32"):
        read_showers(_cc(tmp_path, showers=e))


@pytest.mark.parametrize("dtype", [np.complex64, bool, np.uint8])
def test_complex_bool_and_integer_showers_are_refused(tmp_path, dtype):
    with pytest.raises(InputError, match="dataset 'showers': values of type .*; expected floating-point"):
        read_showers(_cc(tmp_path, showers=np.ones((6, 25)).astype(dtype)))


def test_external_storage_is_refused(tmp_path):
    raw = tmp_path / "passwd"
    raw.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 30)
    path = _cc(tmp_path)
    with h5py.File(path, "a") as h5:
        del h5["showers"]
        h5.create_dataset("showers", shape=(6, 25), dtype="f4", external=[(str(raw), 0, 600)])
    with pytest.raises(InputError, match="stored outside the file"):
        read_showers(path)


def test_virtual_dataset_with_missing_source_is_refused(tmp_path):
    path = _cc(tmp_path)
    with h5py.File(path, "a") as h5:
        del h5["showers"]
        layout = h5py.VirtualLayout(shape=(6, 25), dtype="f4")
        layout[...] = h5py.VirtualSource("gone.h5", "x", shape=(6, 25))
        h5.create_virtual_dataset("showers", layout, fillvalue=0)
    with pytest.raises(InputError, match="virtual dataset"):
        read_showers(path)


@pytest.mark.parametrize("change,message", [
    ({"incident_energies": np.array([[1e4]] * 5 + [[1e30]])}, "index 5: incident energy 1e\\+30 MeV outside"),
    ({"incident_energies": np.array([[1e4]] * 5 + [[1e-300]])}, "index 5: incident energy 1e-300 MeV outside"),
    ({"incident_energies": np.array([[1e4], [1e4], [10.0], [1e4], [1e4], [10.0]])}, "index 2: the shower holds"),
])
def test_implausible_values_are_refused_strictly_and_warned_leniently(tmp_path, change, message):
    path = _cc(tmp_path, **change)
    with pytest.raises(InputError, match=message):
        read_showers(path)
    from hepgen.data import ShowerFile

    f = ShowerFile(path, policy=LENIENT)
    assert len(f.read()) == 6 and message.split(": ", 1)[1][:12].replace("\\", "") in f.warnings[0]


def test_one_huge_voxel_and_one_shower_at_50x_are_found_per_shower(tmp_path):
    v = Validator("x.h5", LENIENT)
    e = np.ones((100, 25), np.float32)
    e[7, 3] = 1e30
    e[40] *= 50 * 1e3 / 25
    v.showers(np.full(100, 1e3), e)
    assert v.warnings == [
        "x.h5: dataset 'showers': index 7: a single voxel holds 1e+30 MeV, 1e+27 x the incident energy (expected at "
        "most 2 x); 1 of 100 showers read",
        "x.h5: dataset 'incident_energies': index 40: the shower holds 50 x its incident energy (expected at most 2 "
        "x): incident energies look like GeV where MeV is expected, or deposits like keV where MeV is expected; 1 of "
        "100 showers read"]


def test_all_nan_labels_are_refused(tmp_path):
    path = _cc(tmp_path)
    with h5py.File(path, "a") as h5:
        h5["labels/angle"] = np.full(6, np.nan)
    with pytest.raises(InputError, match="dataset 'labels/angle': index 0: NaN or infinite label value"):
        read_showers(path)


@pytest.mark.parametrize("column,value,message", [
    (0, np.nan, "index 1: NaN or infinite jet feature"), (0, -2.0, "index 1: negative jet pt -2"),
    (3, 31.0, "index 1: n_particles 31; expected a whole number from 0 to 8"),
])
def test_bad_jet_features_are_refused(tmp_path, column, value, message):
    p = np.zeros((3, 8, 4), np.float32)
    p[:, :2, 2] = 0.5
    p[:, :2, 3] = 1
    jets = np.array([[100.0, 0.0, 10.0, 2.0]] * 3, np.float32)
    jets[1, column] = value
    with h5py.File(tmp_path / "j.h5", "w") as h5:
        h5["particle_features"], h5["jet_features"] = p, jets
    with pytest.raises(InputError, match=message):
        read_jets(tmp_path / "j.h5")


def test_evaluate_reports_an_implausible_generated_file_with_warnings(tmp_path, capsys, cheap_fpd):
    """Issue 14: an untrained model's output (response far above E_inc; one voxel at 1e30 MeV) gets a report."""
    from hepgen.cli import main

    rng = np.random.default_rng(3)
    inc = np.exp(rng.uniform(np.log(1e3), np.log(1e5), 40))
    e = rng.exponential(1.0, (40, 25)).astype(np.float32)
    e *= (0.5 * inc / e.sum(1))[:, None]
    write_showers(tmp_path / "ref.h5", ShowerData(inc, e, "belle2-ecl-5x5"))
    bad = e * 5.0
    bad[4, 2] = 1e30
    write_showers(tmp_path / "gen.h5", ShowerData(inc, bad, "belle2-ecl-5x5"))
    with pytest.raises(SystemExit) as code:
        main(["-q", "evaluate", str(tmp_path / "ref.h5"), str(tmp_path / "gen.h5"), "-o", str(tmp_path / "rep"),
              "--no-classifier", "--no-figures", "--workers", "1"])
    assert code.value.code in (0, None)
    err = capsys.readouterr().err
    assert err.count("hepgen: warning:") == 2 and "a single voxel holds 1e+30 MeV" in err
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert len(metrics["warnings"]) == 2 and "39 of 40 showers" in metrics["warnings"][1]
    page = (tmp_path / "rep" / "index.html").read_text()
    assert page.index("class='warnings'") < page.index("<h2>Summary") and "1e+30 MeV" in page
    with pytest.raises(SystemExit) as code:       # convert refuses the same file
        main(["-q", "convert", str(tmp_path / "gen.h5"), str(tmp_path / "out.h5")])
    assert code.value.code == 2 and not (tmp_path / "out.h5").exists()


@pytest.mark.skipif(os.environ.get("HDF5_USE_FILE_LOCKING", "").upper() == "FALSE", reason="HDF5 file locking off")
def test_permission_denied_and_locked_files_say_so(tmp_path, monkeypatch):
    path = _cc(tmp_path)
    # a writer in another process holds the HDF5 lock
    holder = subprocess.Popen([sys.executable, "-c", f"import h5py, sys, time; f = h5py.File({str(path)!r}, 'a'); "
                               "print('open', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(InputError, match="file is locked by another process"):
            read_showers(path)
    finally:
        holder.kill()
        holder.wait()
    import h5py as h5mod

    def denied(*a, **k):
        raise PermissionError(13, f"Unable to synchronously open file (unable to open file: name = '{path}', "
                                  "errno = 13, error message = 'Permission denied')")
    monkeypatch.setattr(h5mod, "File", denied)
    with pytest.raises(InputError, match=r"a.h5: permission denied$"):
        read_showers(path)
    monkeypatch.undo()
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != tmp_path / "ro")
    (tmp_path / "ro").mkdir()
    from hepgen.data.convert import convert_file

    with pytest.raises(InputError, match="ro: permission denied: cannot write into this folder"):
        convert_file(path, tmp_path / "ro" / "out.h5")


def test_empty_npy_and_corrupt_npz_give_one_line(tmp_path):
    from hepgen.cli import main

    (tmp_path / "j.npy").write_bytes(b"")
    (tmp_path / "j.npz").write_bytes(b"PK\x03\x04garbage")
    for name in ("j.npy", "j.npz"):
        with pytest.raises(InputError, match=f"{name}: not a readable"):
            read_jets(tmp_path / name)
        with pytest.raises(SystemExit) as code:
            main(["-q", "info", str(tmp_path / name)])
        assert code.value.code == 2


def test_a_corrupt_symbol_table_in_info_is_one_line(tmp_path, monkeypatch):
    """Found by benchmarks/bench_fuzz_inputs.py (flip-header): h5py raises RuntimeError on the first name
    lookup of a file whose symbol table is corrupt ("Unable to synchronously check link existence")."""
    import h5py

    from hepgen.report.summary import summarise_file

    path = _cc(tmp_path)

    def broken(self, name):
        raise RuntimeError("Unable to synchronously check link existence (bad symbol table node version)")

    from hepgen.data.convert import convert_file

    monkeypatch.setattr(h5py.File, "__contains__", broken)
    from hepgen.data import read_points

    for run in (lambda: summarise_file(path), lambda: convert_file(path, tmp_path / "out.h5"),
                lambda: read_points(path)):
        with pytest.raises(InputError, match=r"a\.h5: cannot read: Unable to synchronously check link existence"):
            run()
