"""Boundary checks shared by the public entry points.

Each check raises :class:`InvalidArgument` with a message that names the
argument, says what was expected and what was received, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import InvalidArgument


def describe(x: Any) -> str:
    """A short description of a value for error messages."""
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"[:120]


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """A seed for ``numpy.random.default_rng``: a non-negative integer or None."""
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise InvalidArgument(f"{name}: expected a non-negative integer or None, got {describe(seed)}")
    return None if seed is None else int(seed)


def as_numeric_array(name: str, x: Any, *, allow_complex: bool = False) -> np.ndarray:
    """Convert ``x`` to a real (or complex) floating array without copying floats.

    Integer and boolean input is converted to float64.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise InvalidArgument(f"{name}: expected a numeric array, got {describe(x)} ({exc})") from None
    kind = arr.dtype.kind
    if kind in "biu":
        return arr.astype(np.float64)
    if kind == "f" or (kind == "c" and allow_complex):
        return arr
    raise InvalidArgument(
        f"{name}: expected a real numeric array, got {describe(x)}; "
        "convert it with numpy.asarray(..., dtype=float)"
    )


def check_sizes(sizes: Any) -> list[int]:
    """Validate layer sizes: a sequence of at least two positive integers."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) and not isinstance(sizes, np.ndarray):
        raise InvalidArgument(
            f"sizes: expected a sequence of at least 2 positive integers such as [3, 4, 1], got {describe(sizes)}"
        )
    out = []
    for i, s in enumerate(sizes):
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or s < 1:
            raise InvalidArgument(
                f"sizes: entry {i} must be a positive integer (a layer width), got {describe(s)}; "
                "example: sizes=[3, 4, 1]"
            )
        out.append(int(s))
    if len(out) < 2:
        raise InvalidArgument(
            f"sizes: expected at least 2 layer sizes (inputs and outputs), got {len(out)}: {out}; "
            "example: sizes=[3, 4, 1]"
        )
    return out


def check_finite(name: str, arr: np.ndarray) -> None:
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise InvalidArgument(
            f"{name}: expected finite values, found {arr[bad]} at index {bad}; remove or replace NaN/Inf entries"
        )


def check_data(X: Any, y: Any, n_inputs: int, n_outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate a data set for a network with ``n_inputs`` inputs and ``n_outputs`` outputs.

    Returns
    -------
    X : ndarray of shape (N, n_inputs)
    y : ndarray of shape (N, n_outputs)
        A 1-D ``y`` of length N is accepted when ``n_outputs == 1``.
    """
    X = as_numeric_array("X", X)
    if X.ndim != 2 or X.shape[1] != n_inputs:
        raise InvalidArgument(
            f"X: expected a 2-D array of shape (n_samples, {n_inputs}), got shape {X.shape}; "
            f"one row per sample, one column per network input"
        )
    if X.shape[0] == 0:
        raise InvalidArgument("X: expected at least one sample (row), got 0")
    check_finite("X", X)
    y = as_numeric_array("y", y)
    given = y.shape
    if y.ndim == 1 and n_outputs == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape != (X.shape[0], n_outputs):
        raise InvalidArgument(
            f"y: expected shape ({X.shape[0]}, {n_outputs}) (one row per row of X, one column per output"
            f"{'; a 1-D array also works for one output' if n_outputs == 1 else ''}), got shape {given}"
        )
    check_finite("y", y)
    return X, y


def check_params_mapping(params: Any, name: str = "params") -> dict[str, np.ndarray]:
    """Validate a mapping of parameter arrays; arrays are not copied or modified.

    Integer arrays are converted to float64 (a new array); floating arrays are
    returned as they are.  Non-finite values are allowed here: the checker
    reports them per group.
    """
    from collections.abc import Mapping

    if not isinstance(params, Mapping):
        raise InvalidArgument(
            f"{name}: expected a mapping of parameter name to array, such as {{'W1': W1, 'b1': b1}}, "
            f"got {describe(params)}"
        )
    if not params:
        raise InvalidArgument(f"{name}: expected at least one parameter array, got an empty mapping")
    out: dict[str, np.ndarray] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise InvalidArgument(f"{name}: keys must be strings (parameter names), got {describe(key)}")
        arr = as_numeric_array(f"{name}[{key!r}]", value)
        out[key] = arr
    return out


def check_grads_mapping(grads: Any, params: dict[str, np.ndarray], label: str = "grads") -> dict[str, np.ndarray]:
    """Validate user gradients against validated params: same keys, same shapes."""
    grads = check_params_mapping(grads, label)
    missing = [k for k in params if k not in grads]
    extra = [k for k in grads if k not in params]
    if missing or extra:
        raise InvalidArgument(
            f"{label}: keys must match params; missing {missing}, unexpected {extra}; "
            "pass one array per parameter, under the same name"
        )
    for k, p in params.items():
        if grads[k].shape != p.shape:
            raise InvalidArgument(
                f"{label}[{k!r}]: expected shape {p.shape} (the shape of params[{k!r}]), got shape {grads[k].shape}"
            )
    return {k: grads[k] for k in params}


def check_float_dtype(dtype: Any, name: str = "dtype") -> np.dtype:
    """A numpy floating dtype, or InvalidArgument naming ``name``."""
    try:
        out = np.dtype(dtype)
    except TypeError:
        raise InvalidArgument(f"{name}: expected a floating dtype such as numpy.float64, "
                              f"got {describe(dtype)}") from None
    if out.kind != "f":
        raise InvalidArgument(f"{name}: expected a floating dtype such as numpy.float64, got {out}")
    return out


def check_choices(name: str, values: Any, allowed: Sequence[str]) -> list[str]:
    """Validate a non-empty sequence of names (or one name) drawn from ``allowed``.

    Returns the names as a list, in the order given.
    """
    if isinstance(values, str):
        values = (values,)
    try:
        chosen = list(values)
    except TypeError:
        raise InvalidArgument(f"{name}: expected one or more of {list(allowed)}, got {describe(values)}") from None
    unknown = [v for v in chosen if v not in allowed]
    if not chosen or unknown:
        raise InvalidArgument(f"{name}: expected one or more of {list(allowed)}, got {chosen}"
                              + (f" (unknown: {unknown})" if unknown else ""))
    return chosen
