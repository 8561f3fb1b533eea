"""Atomic, non-clobbering output files.

Every writer in hepgen writes to a temporary file next to the target and renames it into place only
when the file is complete, so an interrupted job never leaves a half-written file under the final
name and never destroys an existing one. An existing target is refused unless ``overwrite=True``.
Temporary files are created fresh (``O_EXCL | O_NOFOLLOW``, a private random name in the target's
folder), and renaming replaces a symbolic link at the target itself: nothing is ever written through
a link planted at a temporary or final name.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
>>> with atomic_path(target) as tmp:
...     _ = tmp.write_text("done")
>>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
('done', ['out.txt'])
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from hepgen.errors import InputError

__all__ = ["atomic_path", "write_study_outputs", "check_writable", "partial_path", "temp_path", "check_not_input",
           "append_line", "check_folder_writable"]


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


def check_not_input(output: str | Path, inputs: Iterable[str | Path | None], what: str = "output") -> None:
    """Refuse an ``output`` that is (or resolves to, through links) one of the ``inputs``.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "ref.h5").write_text("x")
    >>> check_not_input(d / "gen.h5", [d / "ref.h5"])
    >>> check_not_input(d / "." / "ref.h5", [d / "ref.h5"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: ...ref.h5: output is the input file ...ref.h5; writing it would destroy the input
    """
    out = Path(output)
    for source in inputs:
        if source is None or str(source) == "":
            continue
        source = Path(source)
        same = os.path.realpath(out) == os.path.realpath(source)
        if not same and out.exists() and source.exists():
            try:
                same = os.path.samefile(out, source)
            except OSError:
                same = False
        if same:
            raise InputError(f"{what} is the input file {source}; writing it would destroy the input",
                             file=str(output))


def partial_path(path: str | Path) -> Path:
    """Where an unfinished (resumable) version of ``path`` lives: ``name.partial.suffix`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


def temp_path(path: str | Path) -> Path:
    """A new, empty file with a private random name beside ``path`` (created with ``O_EXCL | O_NOFOLLOW``).

    The caller writes it and renames it onto its final name (:func:`os.replace`), or deletes it.

    >>> import tempfile, pathlib
    >>> tmp = temp_path(pathlib.Path(tempfile.mkdtemp()) / "a.h5")
    >>> tmp.name.startswith(".a.h5.") and tmp.stat().st_size == 0
    True
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise InputError("cannot create a temporary file beside it", file=str(path))  # pragma: no cover


@contextmanager
def atomic_path(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = check_writable(path, overwrite)
    tmp = temp_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            tmp.unlink()


def append_line(path: str | Path, line: str) -> None:
    """Append ``line`` and a newline to a log file, refusing a symbolic link at ``path`` (``O_NOFOLLOW``).

    >>> import tempfile, pathlib
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> append_line(log, '{"epoch": 0}'); append_line(log, '{"epoch": 1}')
    >>> log.read_text().splitlines()
    ['{"epoch": 0}', '{"epoch": 1}']
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if os.path.islink(path):
            raise InputError("is a symbolic link; hepgen does not append through links: remove it",
                             file=str(path)) from None
        raise InputError(f"cannot append to it: {exc.strerror}", file=str(path)) from None
    with os.fdopen(fd, "a") as f:
        f.write(line + "\n")


def write_study_outputs(folder: str | Path, stem: str, result: dict, table: str, figure, overwrite: bool = False
                        ) -> list[Path]:
    """Write a study's ``STEM.json`` (``result``), ``STEM.md`` (``table``) and ``STEM.png`` (``figure(result, path)``)
    into ``folder``, each atomically; all three are checked before anything is written. Returns the paths.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> [p.name for p in write_study_outputs(d, "s", {"a": 1}, "| a |", lambda r, p: p.write_bytes(b"png"))]
    ['s.json', 's.md', 's.png']
    """
    import json

    targets = [Path(folder) / f"{stem}.{ext}" for ext in ("json", "md", "png")]
    for target in targets:
        check_writable(target, overwrite)
    with atomic_path(targets[0], overwrite) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    with atomic_path(targets[1], overwrite) as tmp:
        tmp.write_text(table)
    with atomic_path(targets[2], overwrite) as tmp:
        figure(result, tmp)
    return targets
