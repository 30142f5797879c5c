"""Reading an official MANO pkl without chumpy: a restricted unpickler whose stand-ins keep the
state of chumpy objects and scipy sparse matrices, and turn it back into numpy arrays.

Only numpy, scipy.sparse and chumpy classes may be named by the file (`restricted_pickle`).
"""

import copyreg
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse

from s2h_lib.hand.mano_data import REQUIRED_KEYS, HandModelFormatError, require_keys
from s2h_lib.restricted_pickle import NUMPY_GLOBALS, UnreadablePickleError, load_restricted


class _ChumpyStub:
    """Stands in for any chumpy class: keeps the pickled state and nothing else."""

    chumpy_class = "chumpy"
    state: Mapping[str, Any] = MappingProxyType({})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Accepts anything, for pickles that rebuild objects by calling their class."""

    def __setstate__(self, state: Any) -> None:
        # Objects with __slots__ pickle their state as (dict, slots_dict).
        parts = state if isinstance(state, tuple) else (state,)
        self.state = {k: v for part in parts if isinstance(part, dict) for k, v in part.items()}


class _SparseStub:
    """Stands in for a pickled scipy sparse matrix; `_densify` rebuilds it from its arrays,
    which does not depend on the private layout of the scipy version that wrote it."""

    build = staticmethod(scipy.sparse.csc_matrix)
    state: Mapping[str, Any] = MappingProxyType({})

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.state = dict(state)


class _CsrStub(_SparseStub):
    build = staticmethod(scipy.sparse.csr_matrix)


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **NUMPY_GLOBALS,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("scipy.sparse.csc", "csc_matrix"): _SparseStub,
    ("scipy.sparse._csc", "csc_matrix"): _SparseStub,
    ("scipy.sparse.csr", "csr_matrix"): _CsrStub,
    ("scipy.sparse._csr", "csr_matrix"): _CsrStub,
}


def _chumpy_stand_in(module: str, name: str) -> type | None:
    """A `_ChumpyStub` subclass named after any chumpy class (None for other modules)."""
    if module == "chumpy" or module.startswith("chumpy."):
        return type(name, (_ChumpyStub,), {"chumpy_class": f"{module}.{name}"})
    return None


def _unpickle(path: Path) -> dict[str, Any]:
    refusal = ": a MANO file only refers to numpy, scipy.sparse and chumpy classes"
    try:
        data = load_restricted(path, _ALLOWED_GLOBALS, _chumpy_stand_in, refusal)
    except UnreadablePickleError as err:
        raise HandModelFormatError(f"{path} is not a readable MANO pickle: {err}") from err
    if not isinstance(data, dict):
        raise HandModelFormatError(
            f"{path} is not a MANO file: it holds a {type(data).__name__}, expected a dict "
            f"with the keys {', '.join(REQUIRED_KEYS)}"
        )
    return data


def _chumpy_array(value: Any, key: str, path: Path) -> np.ndarray:
    """The numbers behind a chumpy object: a `Ch` holds them in `x`; a `Select` picks
    `a.ravel()[idxs]` and reshapes to `preferred_shape`."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, _ChumpyStub):
        state = value.state
        if "x" in state:
            return _chumpy_array(state["x"], key, path)
        if {"a", "idxs"} <= state.keys():
            source = _chumpy_array(state["a"], key, path)
            picked = source.ravel()[np.asarray(state["idxs"]).ravel()]
            return picked.reshape(state.get("preferred_shape", picked.shape))
        raise HandModelFormatError(
            f"{path}: cannot read '{key}' from a chumpy {value.chumpy_class} with state keys "
            f"{sorted(state)} (expected 'x', or 'a' and 'idxs')"
        )
    raise HandModelFormatError(f"{path}: '{key}' is a {type(value).__name__}, expected an array")


def _densify(value: Any, key: str, path: Path) -> np.ndarray:
    if isinstance(value, _SparseStub):
        state = value.state
        shape = state.get("_shape", state.get("shape"))
        try:
            arrays = (state["data"], state["indices"], state["indptr"])
            return value.build(arrays, shape=shape).toarray()
        except (KeyError, ValueError, TypeError) as err:
            raise HandModelFormatError(f"{path}: cannot rebuild sparse '{key}': {err}") from err
    if scipy.sparse.issparse(value):
        return value.toarray()
    return _chumpy_array(value, key, path)


def read_official_pkl(path: Path) -> dict[str, Any]:
    """The pkl's arrays as plain numpy: shapedirs out of chumpy, J_regressor dense."""
    raw = _unpickle(path)
    require_keys(raw, path)
    data = {key: raw[key] for key in (*REQUIRED_KEYS, "hands_coeffs") if key in raw}
    for key in data:
        data[key] = _densify(data[key], key, path)
    return data
