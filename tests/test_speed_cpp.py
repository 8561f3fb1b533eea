"""The C++ ONNX Runtime example of docs/onnx_cpp.md: built and run when a compiler and the headers exist."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "onnx_cpp.md"


def _ort_root() -> Path | None:
    candidates = [os.environ.get("ONNXRUNTIME_ROOT", ""), "/usr", "/usr/local", "/opt/onnxruntime"]
    for c in candidates:
        for inc in ("include", "include/onnxruntime", "include/onnxruntime/core/session"):
            if c and (Path(c) / inc / "onnxruntime_cxx_api.h").is_file():
                return Path(c)
    return None


def test_cpp_example_is_in_the_docs():
    code = re.search(r"```cpp\n(.*?)```", DOC.read_text(), re.S)
    assert code and "Ort::Session" in code.group(1) and '"energy"' in code.group(1)


def test_cpp_example_builds_and_runs(tmp_path, make_showers):
    compiler = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    root = _ort_root()
    if compiler is None or root is None:
        pytest.skip(f"needs a C++ compiler (found: {compiler}) and ONNX Runtime C++ headers (set ONNXRUNTIME_ROOT; "
                    "the PyPI wheel has none)")
    from hepgen.progress import set_quiet
    from hepgen.training import train
    from hepgen.training.onnx import export_onnx

    set_quiet(True)
    run = train("wgan", make_showers("belle2-ecl-10x10", 32), tmp_path / "run",
                {"params": {"width": 8, "noise_dim": 4, "constrainer_steps": 2}, "training": {"batch_size": 16}},
                max_epochs=1)
    assert export_onnx(run, tmp_path / "m.onnx", n_check=8).passed
    src = tmp_path / "example.cpp"
    src.write_text(re.search(r"```cpp\n(.*?)```", DOC.read_text(), re.S).group(1))
    inc = [f"-I{p}" for p in (root / "include", root / "include/onnxruntime",
                               root / "include/onnxruntime/core/session") if p.is_dir()]
    lib = root / "lib"
    subprocess.run([compiler, "-std=c++17", "-O1", str(src), *inc, f"-L{lib}", "-lonnxruntime",
                    f"-Wl,-rpath,{lib}", "-o", str(tmp_path / "example")], check=True, timeout=300)
    out = subprocess.run([str(tmp_path / "example"), str(tmp_path / "m.onnx"), "3", "20000"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert out.count("voxels, visible energy") == 3 and "100 voxels" in out
