"""gradcheck: is my hand-written backpropagation right, and if not, where is it wrong?

>>> import gradcheck as gc
>>> net = gc.DenseNet([3, 4, 4, 1], seed=0)
>>> X, y = gc.xor_data()
>>> gc.check_network(net, X, y).passed
True

The public names are loaded together on the first use of any of them (PEP
562), so that ``import gradcheck``, which pytest does at every start through
the plugin's entry point, costs nothing in suites that never check a gradient.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # the same names, for type checkers and IDEs ("as": re-exported)
    from .errors import GradcheckWarning as GradcheckWarning
    from .errors import GradientMismatch as GradientMismatch
    from .errors import InvalidArgument as InvalidArgument
    from .errors import LossEvaluationError as LossEvaluationError
    from .interfaces.backprop_property import assert_backprop as assert_backprop
    from .interfaces.backprop_property import verify_backprop as verify_backprop
    from .model.network import DenseNet as DenseNet
    from .model.network import xor_data as xor_data
    from .numerical.engine import NumericalGradient as NumericalGradient
    from .numerical.gradient import numerical_gradient as numerical_gradient
    from .report.model import CheckReport as CheckReport
    from .report.records import GroupResult as GroupResult
    from .verify.network import check_network as check_network
    from .verify.params import assert_gradients as assert_gradients
    from .verify.params import check_grad as check_grad
    from .verify.params import check_params as check_params
    from .verify.tolerance import Tolerance as Tolerance
    from .verify.user_backprop import check_backprop as check_backprop

#: Public name -> the module that defines it.
_SOURCES = {
    "CheckReport": "report.model",
    "DenseNet": "model.network",
    "GradcheckWarning": "errors",
    "GradientMismatch": "errors",
    "GroupResult": "report.records",
    "InvalidArgument": "errors",
    "LossEvaluationError": "errors",
    "NumericalGradient": "numerical.engine",
    "Tolerance": "verify.tolerance",
    "assert_backprop": "interfaces.backprop_property",
    "assert_gradients": "verify.params",
    "check_grad": "verify.params",
    "check_network": "verify.network",
    "check_params": "verify.params",
    "check_backprop": "verify.user_backprop",
    "numerical_gradient": "numerical.gradient",
    "verify_backprop": "interfaces.backprop_property",
    "xor_data": "model.network",
}

__all__ = ["__version__", *_SOURCES]


def __getattr__(name: str) -> Any:
    if name not in _SOURCES:
        raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")
    # The first public name used loads them all, so that the first check a
    # script times does not also pay for importing the checker.
    for public, module in _SOURCES.items():
        globals()[public] = getattr(importlib.import_module(f".{module}", __name__), public)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
