"""Event streams: any source of (n, d) feature arrays read in chunks, never loaded whole.

A *stream* is an iterator of float arrays of shape (n, d) (n may change from chunk to chunk). :func:`iter_chunks`
makes one from an in-memory array, a NumPy ``.npy`` file (memory-mapped) or an HDF5 dataset (``file.h5`` with
``dataset``, or ``file.h5:dataset``), starting at any event; :func:`rechunk` regroups a stream into fixed-size
pieces (the buffers of online training, :mod:`hepgen.training.online`).

>>> x = np.arange(10.0).reshape(5, 2)
>>> [c.shape for c in iter_chunks(x, 2)]
[(2, 2), (2, 2), (1, 2)]
>>> [c[:, 0].tolist() for c in rechunk(iter_chunks(x, 3, start=1), 2)]
[[2.0, 4.0], [6.0, 8.0]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from hepgen.errors import InputError

__all__ = ["iter_chunks", "rechunk", "skip_events"]


def _as_2d(chunk: np.ndarray, where: str) -> np.ndarray:
    chunk = np.asarray(chunk)
    if chunk.ndim == 1:
        chunk = chunk[:, None]
    if chunk.ndim != 2 or not np.issubdtype(chunk.dtype, np.number) or np.iscomplexobj(chunk):
        raise InputError(f"{where}: expected a real (n, d) feature array, got {chunk.dtype} {chunk.shape}")
    return chunk


def iter_chunks(source: np.ndarray | str | Path, chunk_size: int = 10_000, dataset: str | None = None,
                start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
    """Chunks (≤ ``chunk_size`` events, float64, shape (n, d)) of events ``start:stop`` of ``source``.

    ``source``: an array, a ``.npy`` file (memory-mapped, read chunk by chunk) or an HDF5 file with ``dataset``
    (or written ``file.h5:dataset``); a 1-d source is one feature per event. Non-finite values are refused with
    the file, dataset and first bad event named.

    >>> [c.ravel().tolist() for c in iter_chunks(np.arange(5.0), 2, start=1, stop=4)]
    [[1.0, 2.0], [3.0]]
    """
    if int(chunk_size) < 1:
        raise InputError(f"chunk size must be >= 1, got {chunk_size}")
    if isinstance(source, (str, Path)):
        text = str(source)
        if dataset is None and ":" in text and not Path(text).exists():
            text, dataset = text.rsplit(":", 1)
        path = Path(text)
        if not path.is_file():
            raise InputError("no such file", file=text)
        if path.suffix == ".npy":
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InputError(f"not a readable .npy array ({exc})", file=text) from None
            yield from _chunks_of(array, int(chunk_size), start, stop, text, None)
            return
        import h5py

        try:
            h5 = h5py.File(path, "r")
        except OSError as exc:
            raise InputError(f"not a readable HDF5 or .npy file ({exc})", file=text) from None
        with h5:
            if dataset is None:
                names = [k for k in h5 if isinstance(h5[k], h5py.Dataset)]
                if len(names) != 1:
                    raise InputError(f"name the dataset (file.h5:dataset); found {names}", file=text)
                dataset = names[0]
            if dataset not in h5 or not isinstance(h5[dataset], h5py.Dataset):
                raise InputError("no such dataset", file=text, dataset=dataset)
            yield from _chunks_of(h5[dataset], int(chunk_size), start, stop, text, dataset)
        return
    yield from _chunks_of(np.asarray(source), int(chunk_size), start, stop, None, None)


def _chunks_of(array, chunk_size: int, start: int, stop: int | None, file: str | None,
               dataset: str | None) -> Iterator[np.ndarray]:
    n = len(array)
    stop = n if stop is None else min(int(stop), n)
    for lo in range(max(0, int(start)), stop, chunk_size):
        hi = min(lo + chunk_size, stop)
        try:
            chunk = _as_2d(array[lo:hi], "events")
        except InputError as exc:
            raise InputError(exc.message, file=file, dataset=dataset, index=lo) from None
        chunk = chunk.astype(np.float64)
        bad = ~np.isfinite(chunk).all(axis=1)
        if bad.any():
            raise InputError("NaN or infinite feature", file=file, dataset=dataset, index=lo + int(np.argmax(bad)))
        yield chunk


def rechunk(stream: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Regroup a stream of (n, d) chunks into pieces of exactly ``size`` events (the last may be shorter).

    Holds at most ``size`` events plus one incoming chunk.

    >>> [len(c) for c in rechunk([np.zeros((3, 1)), np.zeros((4, 1))], 5)]
    [5, 2]
    """
    if int(size) < 1:
        raise InputError(f"buffer size must be >= 1, got {size}")
    parts: list[np.ndarray] = []
    held = 0
    for index, chunk in enumerate(stream):
        chunk = _as_2d(chunk, f"stream chunk {index}")
        while len(chunk):
            take = min(size - held, len(chunk))
            parts.append(chunk[:take])
            held += take
            chunk = chunk[take:]
            if held == size:
                yield np.concatenate(parts) if len(parts) > 1 else parts[0]
                parts, held = [], 0
    if held:
        yield np.concatenate(parts)


def skip_events(stream: Iterable[np.ndarray], n: int) -> Iterator[np.ndarray]:
    """The stream without its first ``n`` events (to resume a re-opened stream after ``n`` seen events).

    >>> [c.ravel().tolist() for c in skip_events([np.arange(3.0), np.arange(3.0, 6)], 4)]
    [[4.0, 5.0]]
    """
    left = int(n)
    for index, chunk in enumerate(stream):
        chunk = _as_2d(chunk, f"stream chunk {index}")
        if left >= len(chunk):
            left -= len(chunk)
            continue
        yield chunk[left:]
        left = 0
