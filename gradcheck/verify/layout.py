"""Array layouts of hand-written backprop code, and the formulas written in each.

gradcheck computes in the "in_out" layout, one row per sample: W_l of shape
(n_{l−1}, n_l), X (N, n_0), δ_l (N, n_l), b_l (n_l,).  Textbook code often
uses column vectors, the "out_in" layout: W_l (n_l, n_{l−1}), X (n_0, N),
δ_l (n_l, N), b_l (n_l, 1) (Nielsen, "Neural Networks and Deep Learning",
ch. 2, equations BP1–BP4).  One layout is the transpose of the other, so the
check converts the caller's arrays once on the way in, and its results
(arrays, indices, formulas) once on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LAYOUTS", "Notation", "IN_OUT", "OUT_IN", "notation_of"]

LAYOUTS = ("in_out", "out_in")


@dataclass(frozen=True)
class Notation:
    """The delta formulas as a reader of one layout writes them.

    Attributes
    ----------
    layout : {'in_out', 'out_in'}
    """

    layout: str

    @property
    def column_vectors(self) -> bool:
        return self.layout == "out_in"

    def output_delta(self, L: int, link: str = "elementwise", fused: str | None = None) -> str:
        """BP1 at the output layer L.

        ``link`` is 'elementwise' (∂L/∂a ⊙ f'(z)) or 'jacobian' (softmax's
        Jacobian product); ``fused`` the collapsed form it equals, e.g.
        ``"a2 − y"`` for cross-entropy.
        """
        if link == "jacobian":
            form = f"J_softmax(z{L})ᵀ ∂L/∂a{L}" if self.column_vectors else f"∂L/∂a{L} J_softmax(z{L})"
        else:
            form = f"∂L/∂a{L} ⊙ f'(z{L})"
        return f"δ{L} = {form}" + (f" = {fused}" if fused else "")

    def recurrence(self, l: int) -> str:
        """BP2: δ_l from δ_{l+1}."""
        if self.column_vectors:
            return f"δ{l} = (W{l + 1}ᵀ δ{l + 1}) ⊙ f'(z{l})"
        return f"δ{l} = (δ{l + 1} W{l + 1}ᵀ) ⊙ f'(z{l})"

    def weight_formula(self, l: int, decay: bool = False) -> str:
        """BP4: ∂L/∂W_l from δ_l and the activations below (``decay``: plus λW_l)."""
        term = f" + λW{l}" if decay else ""
        if self.column_vectors:
            return f"∂L/∂W{l} = δ{l} a{l - 1}ᵀ{term}"
        return f"∂L/∂W{l} = a{l - 1}ᵀ δ{l}{term}"

    def bias_formula(self, l: int) -> str:
        """BP3 summed over the samples."""
        return f"∂L/∂b{l} = Σ δ{l}"


IN_OUT = Notation("in_out")
OUT_IN = Notation("out_in")


def notation_of(layout: str) -> Notation:
    """The notation of ``layout`` (one of :data:`LAYOUTS`)."""
    return OUT_IN if layout == "out_in" else IN_OUT
