"""Kinks in a network check: which engines judge one-sided, and what the report says about it.

:func:`check_network` wraps its engines in :class:`~gradcheck.numerical.kinks.KinkEngine`
when the network has a kinked activation (ReLU, leaky ReLU).  This module
builds those wrappers for the parameters and for every layer's δ_l, and
afterwards writes their findings into the groups: a note listing the entries
judged at a kink, and the inconclusive verdict when one could not be decided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model.backprop import Backward
from ..model.network import DenseNet
from ..numerical.chunked import RowChunks
from ..numerical.engine import DEFAULT_MEMORY_BUDGET, Engine
from ..numerical.kink_sides import MovedSides
from ..numerical.kinks import SCREEN_ELEMENTS, KinkEngine, KinkEntry, KinkScreen, kink_label, project
from ..report.records import GroupResult

__all__ = ["KinkRegistry"]

#: The kink engines' forward passes (the sides) take at most this fraction of the memory budget.
SIDES_SHARE = 8
#: Entries listed by name in a group's note; the count covers them all.
LISTED = 6
#: The largest move, relative to max(1, |θ|), of the random-direction measurements.
STILL_REACH = 1e-5


@dataclass
class KinkRegistry:
    """The kink engines of one network check, and what they found.

    Parameters
    ----------
    net : DenseNet
    X, y : ndarray
        The validated data.
    reference : Backward
        The correct pass at the data (its forward cache locates the kinks).
    memory_budget : int
        Bytes: the kink engines' forward passes run a block of samples at a time within an
        eighth of it (:data:`SIDES_SHARE`), and the screens by blocks of rows.
    """

    net: DenseNet
    X: np.ndarray
    y: np.ndarray
    reference: Backward
    engines: dict[str, KinkEngine] = field(default_factory=dict)
    memory_budget: int = DEFAULT_MEMORY_BUDGET

    def __post_init__(self) -> None:
        # The thresholds of a layer are kept when they take at most an eighth of the budget.
        self.screen = KinkScreen(self.net, self.reference.cache, keep_bytes=self.memory_budget // SIDES_SHARE)
        self.kinked_layers = [l for l in range(1, self.net.n_layers + 1) if self.net.activations[l - 1].kinks]
        # A forward pass holds z and a of every layer and a few temporaries of the widest: 8 bytes each.
        per_sample = 8 * (2 * sum(self.net.sizes) + 4 * max(self.net.sizes))
        self.block = max(1, self.memory_budget // SIDES_SHARE // per_sample)

    def _sides(self, zs: Callable[[int], np.ndarray], first: int) -> np.ndarray:
        """sign(z − kink) of every kinked unit from layer ``first`` on, per sample; int8 (samples, units)."""
        parts = []
        for l in self.kinked_layers:
            if l >= first:
                z = np.real(zs(l))
                parts += [np.sign(z - k).astype(np.int8).reshape(z.shape[0], -1)
                          for k in self.net.activations[l - 1].kinks]
        return np.concatenate(parts, axis=1) if parts else np.zeros((np.shape(zs(first))[0], 0), np.int8)

    def still_params(self) -> dict[str, np.ndarray]:
        """Per parameter group, the entries a random-direction measurement must leave at rest.

        Those whose move by ``STILL_REACH``·max(1, |θ|) could reach a kink: the
        loss-noise line moves an entry by at most 4e-6, the complex probe's
        central difference by at most ε^(1/3) ≈ 6e-6, in those units.
        """
        return {name: self._still(p, name, int(name[1:])) for name, p in self.net.params.items()}

    def still_z(self, layer: int) -> dict[str, np.ndarray]:
        """As :meth:`still_params`, for the pre-activations z_layer of a delta check."""
        return {"z": self._still(np.asarray(self.reference.cache.z(layer)), "z", layer)}

    def _still(self, values: np.ndarray, group: str, layer: int) -> np.ndarray:
        """The entries of ``values`` (group ``group`` of layer ``layer``) whose move could reach a kink.

        A delta group ('z') is screened a block of rows at a time (its reaches are 8 bytes per entry).
        """
        move = STILL_REACH * max(1.0, float(np.max(np.abs(values), initial=0.0)))
        mask = np.zeros(values.size, dtype=bool)
        width = max(1, int(np.prod(values.shape[1:]))) if group == "z" else max(1, values.size)
        per = max(1, SCREEN_ELEMENTS // width) * width if group == "z" else max(1, values.size)
        for s in range(0, values.size, per):
            mask[self.screen.candidates(group, layer, np.full(min(per, values.size - s), move), s)] = True
        return mask.reshape(values.shape)

    def params_engine(self, base: Engine, loss: Callable, grads: dict[str, np.ndarray]) -> KinkEngine:
        """``base`` for ∂L/∂θ, with the kink entries judged one-sided."""
        net, X = self.net, self.X

        def sides(point: dict[str, np.ndarray], rows: slice) -> np.ndarray:
            return self._sides(net.forward_cache(X[rows], point).z, 1)

        # A float64 net's moves are formed from the correct pass at θ (the samples each reaches, not
        # every sample's whole pass); another dtype's pass is not the float64 one the moves are measured in.
        moved = (MovedSides(net, self.reference.cache, self.block, self.y, self.screen.kept)
                 if net.dtype == np.float64 else None)
        engine = KinkEngine(base, loss, dict(net.params), grads, sides,
                            lambda name, reach, start: self.screen.candidates(name, int(name[1:]), reach, start),
                            samples=X.shape[0], block=self.block, moved=moved)
        self.engines["params"] = engine
        return engine

    def delta_engine(self, layer: int, base: Engine, loss: Callable, z: np.ndarray,
                     delta: np.ndarray) -> KinkEngine:
        """``base`` for δ_layer = ∂L/∂z_layer, with the kink entries judged one-sided."""
        net = self.net

        def sides(point: dict[str, np.ndarray], rows: slice) -> np.ndarray:
            return self._sides(net.forward_cache(None, start=layer, z=point["z"][rows]).z,  # type: ignore[arg-type]
                               layer)

        engine = KinkEngine(base, loss, {"z": z}, {"z": np.asarray(delta)}, sides,
                            lambda name, reach, start: self.screen.candidates("z", layer, reach, start),
                            samples=np.shape(z)[0], block=self.block, row_local=True)
        self.engines[f"δ{layer}"] = engine
        return engine

    def entries(self, group: str) -> list[KinkEntry]:
        """The entries of ``group`` ('W1', 'b2', 'δ1', …) judged at a kink."""
        if group.startswith("δ"):
            engine = self.engines.get(group)
            return [] if engine is None else engine.kinks.get("z", [])
        engine = self.engines.get("params")
        return [] if engine is None else engine.kinks.get(group, [])

    def project(self, group: str, numerical: np.ndarray | RowChunks, errors: np.ndarray | RowChunks,
                predicted: np.ndarray | RowChunks) -> tuple[Any, Any]:
        """A formula row's numerical side, its kink entries moved to the point nearest the prediction."""
        return project(numerical, errors, predicted, self.entries(group))

    def annotate(self, group: GroupResult, name: str | None = None) -> int:
        """Note the kink entries of ``group`` (looked up as ``name``); set the inconclusive verdict.

        Returns
        -------
        int
            The number of entries judged at a kink.
        """
        entries = self.entries(name or group.name)
        if not entries:
            return 0
        group.kink_entries = len(entries)
        label = kink_label(self.net)
        listed = ", ".join(e.describe(name or group.name) for e in entries[:LISTED])
        more = f", … ({len(entries) - LISTED} more)" if len(entries) > LISTED else ""
        group.notes.append(f"{_count(len(entries))} at a {label} kink, checked one-sided: {listed}{more}")
        undecided = [e for e in entries if e.inconclusive]
        if undecided:
            reason = (f"{_count(len(undecided))} at a {label} kink that no step avoids on one side "
                      f"(within 2^-14 of the one-sided step)")
            if group.passed:
                group.passed = False
                group.inconclusive_reason = reason
            else:
                group.notes.append(reason)
        return len(entries)


def _count(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"
