"""Chunked, resumable writing of JetNet files: :class:`JetChunkStore`.

Long jet productions write each finished chunk as its own ``.npz`` beside the target (in the folder
``<output>.chunks/``, each chunk written via temp+rename). A restarted job with the same settings skips
the chunks already there; different settings are refused. :meth:`JetChunkStore.finish` joins the chunks
into the final file with :func:`hepgen.data.jetnet.write_jets` and removes the folder.

>>> import numpy as np, tempfile, pathlib
>>> from hepgen.data.jets import JetData
>>> out = pathlib.Path(tempfile.mkdtemp()) / "t30.h5"
>>> store = JetChunkStore(out, {"jet_type": "t", "n": 4})
>>> p = np.zeros((2, 30, 4), np.float32); p[:, 0, 2] = 1; p[:, 0, 3] = 1
>>> store.save(0, JetData(p, jet_type="t")); store.save(1, JetData(p, jet_type="t"))
>>> store.done(0), store.done(2)
(True, False)
>>> store.finish(2)
>>> from hepgen.data.jetnet import read_jets
>>> len(read_jets(out)), out.with_name("t30.h5.chunks").exists()
(4, False)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from hepgen.data.atomic import atomic_path, check_writable
from hepgen.data.jetnet import write_jets
from hepgen.data.jets import JetData
from hepgen.errors import InputError

__all__ = ["JetChunkStore"]


class JetChunkStore:
    """Chunk folder ``<output>.chunks/`` for a resumable jet production.

    Parameters
    ----------
    output: the final JetNet file (.h5, .npz or .npy).
    settings: everything that defines the sample (type, N, seed, ...); stored as ``settings.json`` and
        compared on resume.
    overwrite: replace an existing final file (checked now, so a long job does not fail at the end).
    """

    def __init__(self, output: str | Path, settings: dict[str, Any], overwrite: bool = False) -> None:
        self.output = check_writable(output, overwrite)
        self.overwrite = overwrite
        self.folder = self.output.with_name(self.output.name + ".chunks")
        self.settings = json.loads(json.dumps(settings))
        meta = self.folder / "settings.json"
        if meta.exists():
            old = json.loads(meta.read_text())
            if old != self.settings:
                diff = sorted(k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k))
                raise InputError(f"unfinished production with other settings ({', '.join(diff)} differ); "
                                 f"use the same settings to resume or delete {self.folder.name}",
                                 file=str(self.folder))
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(meta, overwrite=True) as tmp:
                tmp.write_text(json.dumps(self.settings, indent=1, sort_keys=True))

    def chunk_path(self, index: int) -> Path:
        """Where chunk ``index`` lives."""
        return self.folder / f"chunk_{index:06d}.npz"

    def done(self, index: int) -> bool:
        """True if chunk ``index`` is already written (complete: written via temp+rename)."""
        return self.chunk_path(index).exists()

    def save(self, index: int, jets: JetData) -> None:
        """Write chunk ``index`` atomically."""
        with atomic_path(self.chunk_path(index), overwrite=True) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, particle_features=jets.particles, jet_features=jets.jets)

    def load(self, index: int) -> JetData:
        """Read chunk ``index`` back."""
        with np.load(self.chunk_path(index)) as z:
            return JetData(z["particle_features"], z["jet_features"], str(self.settings.get("jet_type", "")))

    def finish(self, n_chunks: int, compression: str = "gzip") -> None:
        """Join chunks ``0 .. n_chunks-1`` into the output file and delete the chunk folder."""
        missing = [i for i in range(n_chunks) if not self.done(i)]
        if missing:
            raise InputError(f"{len(missing)} chunks missing (first: {missing[0]}); run the production again "
                             "to complete them", file=str(self.folder))
        jets = JetData.concatenate([self.load(i) for i in range(n_chunks)])
        write_jets(self.output, jets, overwrite=self.overwrite, compression=compression)
        shutil.rmtree(self.folder)
