"""Atomic, non-clobbering output files.

Every writer in hepgen writes to a temporary file next to the target and renames it into place only
when the file is complete, so an interrupted job never leaves a half-written file under the final
name and never destroys an existing one. An existing target is refused unless ``overwrite=True``.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> with atomic_path(target) as tmp:
...     _ = tmp.write_text("done")
>>> target.read_text()
'done'
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hepgen.errors import InputError

__all__ = ["atomic_path", "check_writable", "partial_path", "check_folder_writable"]


def check_folder_writable(folder: str | Path) -> None:
    """Refuse an output folder (or, when it does not exist yet, its nearest existing parent) that this
    process cannot write into, with one :class:`InputError` line saying "permission denied".

    >>> import tempfile
    >>> check_folder_writable(tempfile.mkdtemp() + "/new/sub")
    """
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise InputError("is a file, expected a folder", file=str(probe))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError("permission denied: cannot write into this folder", file=str(probe))


def check_writable(path: str | Path, overwrite: bool = False) -> Path:
    """Refuse an existing ``path`` unless ``overwrite``; make sure its folder exists and is writable."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError("output file exists; pass --overwrite to replace it", file=str(path))
    if path.is_dir():
        raise InputError("output path is a directory, expected a file name", file=str(path))
    check_folder_writable(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder: {exc.strerror or exc}", file=str(path.parent)) from None
    return path


def partial_path(path: str | Path) -> Path:
    """Where an unfinished (resumable) version of ``path`` lives: ``name.partial.suffix`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


@contextmanager
def atomic_path(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = check_writable(path, overwrite)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
