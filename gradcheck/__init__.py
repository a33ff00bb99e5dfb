"""gradcheck: is my hand-written backpropagation right, and if not, where is it wrong?

>>> import gradcheck as gc
>>> net = gc.DenseNet([3, 4, 4, 1], seed=0)
>>> X, y = gc.xor_data()
>>> gc.check_network(net, X, y).passed
True
"""

from ._version import __version__
from .check import GradcheckWarning, assert_gradients, check_grad, check_network, check_params
from .compare import GroupResult, Tolerance
from .errors import GradientMismatch, InvalidArgument, LossEvaluationError
from .network import DenseNet, xor_data
from .numeric import NumericalGradient, numerical_gradient
from .report import CheckReport

__all__ = [
    "__version__",
    "CheckReport",
    "DenseNet",
    "GradcheckWarning",
    "GradientMismatch",
    "GroupResult",
    "InvalidArgument",
    "LossEvaluationError",
    "NumericalGradient",
    "Tolerance",
    "assert_gradients",
    "check_grad",
    "check_network",
    "check_params",
    "numerical_gradient",
    "xor_data",
]
