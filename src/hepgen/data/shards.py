"""Sharded outputs: a manifest of shard files and their merge (``hepgen merge``).

Mass generation writes one HDF5 shard per worker task, each with its own disjoint seed. A shard is
finished when its file exists under its final name (writers rename atomically), so a re-run skips
finished shards and redoes killed ones from scratch: no shower is lost or duplicated. The manifest
(``manifest.json``) lists every shard with its size and seed; :meth:`ShardManifest.check_complete` checks
that every shard is there with its number of showers.

>>> import numpy as np, tempfile, pathlib
>>> from hepgen.data import ShowerData, write_showers
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> m = ShardManifest.plan(d, n_total=5, shard_size=2, seed=7, geometry="belle2-ecl-5x5")
>>> [s.n for s in m.shards]
[2, 2, 1]
>>> for s in m.shards:
...     write_showers(m.path_of(s), ShowerData(np.full(s.n, 1e3), np.zeros((s.n, 25)), "belle2-ecl-5x5"))
>>> merge_shards(d, d / "all.h5")
5
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hepgen.data.atomic import atomic_path
from hepgen.errors import InputError

__all__ = ["Shard", "ShardManifest", "merge_shards"]

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Shard:
    """One shard: its index, number of entries, seed (disjoint per shard) and file name."""

    index: int
    n: int
    seed: int
    file: str


@dataclass
class ShardManifest:
    """The plan of a sharded job, stored as ``manifest.json`` in its folder."""

    folder: Path
    n_total: int
    shard_size: int
    seed: int
    geometry: str
    shards: list[Shard] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @classmethod
    def plan(cls, folder: str | Path, n_total: int, shard_size: int, seed: int, geometry: str,
             settings: dict | None = None) -> "ShardManifest":
        """Plan shards (or load the existing plan, which must have the same settings) and save it."""
        folder = Path(folder)
        if n_total < 1 or shard_size < 1:
            raise InputError(f"expected n >= 1 and shard size >= 1, got {n_total} and {shard_size}")
        wanted = cls(folder, n_total, shard_size, seed, geometry, settings=dict(settings or {}))
        wanted.shards = [Shard(i, min(shard_size, n_total - start), seed * 1_000_003 + i, f"shard-{i:05d}.h5")
                         for i, start in enumerate(range(0, n_total, shard_size))]
        if (folder / MANIFEST).exists():
            old = cls.load(folder)
            if (old.n_total, old.shard_size, old.seed, old.geometry, old.settings) != \
                    (n_total, shard_size, seed, geometry, wanted.settings):
                raise InputError("a manifest with other settings exists in this folder; use a new folder or the "
                                 "same options", file=str(folder / MANIFEST))
            return old
        folder.mkdir(parents=True, exist_ok=True)
        wanted.save()
        return wanted

    @classmethod
    def load(cls, folder: str | Path) -> "ShardManifest":
        """Read ``manifest.json`` from ``folder``."""
        folder = Path(folder)
        path = folder / MANIFEST
        if not path.exists():
            raise InputError("no manifest.json: not a folder of shards", file=str(folder))
        try:
            d = json.loads(path.read_text())
            shards = [Shard(**s) for s in d.pop("shards")]
            return cls(folder, shards=shards,
                       **{k: d[k] for k in ("n_total", "shard_size", "seed", "geometry", "settings")})
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"unreadable manifest ({exc})", file=str(path)) from None

    def save(self) -> None:
        """Write the manifest atomically."""
        d = {k: v for k, v in asdict(self).items() if k != "folder"}
        with atomic_path(self.folder / MANIFEST, overwrite=True) as tmp:
            tmp.write_text(json.dumps(d, indent=1))

    def path_of(self, shard: Shard) -> Path:
        return self.folder / shard.file

    def pending(self) -> list[Shard]:
        """Shards whose final file does not exist yet."""
        return [s for s in self.shards if not self.path_of(s).exists()]

    def check_complete(self) -> None:
        """InputError unless every shard is finished and holds the number of entries the manifest says."""
        from hepgen.data.hdf5 import ShowerFile
        from hepgen.data.validate import LENIENT

        missing = self.pending()
        if missing:
            raise InputError(f"{len(missing)} of {len(self.shards)} shards are not finished "
                             f"(first: {missing[0].file}); re-run the generation to complete them",
                             file=str(self.folder))
        for s in self.shards:
            n = len(ShowerFile(self.path_of(s), policy=LENIENT))
            if n != s.n:
                raise InputError(f"shard holds {n} entries, the manifest says {s.n}", file=str(self.path_of(s)))


def merge_shards(folder: str | Path, output: str | Path, overwrite: bool = False, compression: str = "gzip") -> int:
    """Concatenate all shards of ``folder`` (in order) into ``output``; refuses if any shard is missing."""
    from hepgen.data.hdf5 import ShowerFile, ShowerWriter
    from hepgen.data.validate import LENIENT
    from hepgen.progress import warn

    m = ShardManifest.load(folder)
    m.check_complete()
    files = [ShowerFile(m.path_of(s), policy=LENIENT) for s in m.shards]   # generated: warn, do not refuse
    with ShowerWriter(output, files[0].geometry, compression=compression, overwrite=overwrite,
                      labels=tuple(files[0].label_names), metadata={"merged_shards": len(files), "seed": m.seed}) as w:
        for f in files:
            for chunk in f.chunks(10_000):
                w.append(chunk)
            for message in f.warnings:
                warn(message)
    return m.n_total
