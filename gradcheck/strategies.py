"""Hypothesis strategies, at their public address ``gradcheck.strategies``.

The strategies live in :mod:`gradcheck.interfaces.strategies`; this module
keeps the import path that user test suites use.
"""

from .interfaces.strategies import *  # noqa: F403
from .interfaces.strategies import __all__  # noqa: F401
