"""Numerical derivatives with error estimates: difference rules, the generic and structured engines, SciPy."""
