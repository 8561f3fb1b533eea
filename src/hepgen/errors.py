"""The one exception type for bad input.

Readers, writers and commands raise :class:`InputError` for anything the user can fix (a missing
dataset, a wrong shape, NaN, an unknown geometry name, an existing output file). The command line
prints it as one line and exits with code 2.

>>> err = InputError("expected (N, 6480) voxels, got (10, 368)", file="gen.h5", dataset="showers")
>>> str(err)
"gen.h5: dataset 'showers': expected (N, 6480) voxels, got (10, 368)"
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

__all__ = ["InputError", "about_file"]


class InputError(ValueError):
    """Bad user input: one clear line naming the file, dataset, index and what was expected.

    Parameters
    ----------
    message: what is wrong and what was expected.
    file, dataset, index: where it is, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        dataset: str | None = None,
        index: int | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.dataset = dataset
        self.index = index
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.dataset is not None:
            where.append(f"dataset '{self.dataset}'")
        if self.index is not None:
            where.append(f"index {self.index}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


@contextmanager
def about_file(file: str | None, dataset: str | None = None) -> Iterator[None]:
    """Name ``file`` (and ``dataset``) in an :class:`InputError` raised inside the block that names no file.

    >>> try:
    ...     with about_file("train.h5"):
    ...         raise InputError("label 'theta' has 55 entries for 60 showers")
    ... except InputError as exc:
    ...     print(exc)
    train.h5: label 'theta' has 55 entries for 60 showers
    """
    try:
        yield
    except InputError as exc:
        if exc.file is not None or file is None:
            raise
        raise InputError(exc.message, file=str(file), dataset=exc.dataset or dataset, index=exc.index) from None
