"""Unpickling that resolves only the globals its caller allows, so a data file cannot run code.

The official MANO files (`hand/mano_io`) and HO3D's annotations (`data/ho3d`) are pickles written
by Python 2 (hence latin1) that hold numpy arrays; `NUMPY_GLOBALS` are the globals those need.
"""

from __future__ import annotations

import codecs
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import numpy as np

try:
    from numpy._core import multiarray as _np_multiarray
except ImportError:  # NumPy < 2
    from numpy.core import multiarray as _np_multiarray

NUMPY_GLOBALS: Mapping[tuple[str, str], Any] = MappingProxyType(
    {
        ("numpy.core.multiarray", "_reconstruct"): _np_multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _np_multiarray._reconstruct,
        ("numpy.core.multiarray", "scalar"): _np_multiarray.scalar,
        ("numpy._core.multiarray", "scalar"): _np_multiarray.scalar,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(text, "latin1").
        ("_codecs", "encode"): codecs.encode,
    }
)
# What a truncated, corrupt or refused pickle raises while loading.
_LOAD_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError)

# Given (module, name), a stand-in class for a whole family of globals, or None.
StandIn = Callable[[str, str], Any]


class UnreadablePickleError(ValueError):
    """The file is not a pickle, is cut short, or refers to a global that is not allowed."""


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves a global through `stand_in` first, then `allowed`; refuses every other one
    (`refusal` is added to the message, to say what the file should refer to)."""

    def __init__(
        self,
        file: IO[bytes],
        allowed: Mapping[tuple[str, str], Any],
        stand_in: StandIn | None = None,
        refusal: str = "",
    ) -> None:
        super().__init__(file, encoding="latin1")
        self.allowed = allowed
        self.stand_in = stand_in
        self.refusal = refusal

    def find_class(self, module: str, name: str) -> Any:
        found = self.stand_in(module, name) if self.stand_in is not None else None
        if found is not None:
            return found
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load global '{module}.{name}'{self.refusal}")


def load_restricted(
    path: Path,
    allowed: Mapping[tuple[str, str], Any] = NUMPY_GLOBALS,
    stand_in: StandIn | None = None,
    refusal: str = "",
) -> Any:
    """The object pickled in `path`, with only `allowed` globals (and `stand_in`'s) resolved;
    raises UnreadablePickleError for anything it cannot read."""
    try:
        with path.open("rb") as file:
            return RestrictedUnpickler(file, allowed, stand_in, refusal).load()
    except _LOAD_ERRORS as error:
        raise UnreadablePickleError(str(error)) from error
