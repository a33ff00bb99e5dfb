"""gradcheck: is my hand-written backpropagation right, and if not, where is it wrong?"""

from ._version import __version__
from .errors import GradientMismatch, InvalidArgument
from .network import DenseNet, xor_data

__all__ = [
    "__version__",
    "DenseNet",
    "GradientMismatch",
    "InvalidArgument",
    "xor_data",
]
