"""A module of the user's that imports numpy at its top level (see numpy_in_function.py)."""

import numpy as np


def total(n):
    return int(np.arange(n).sum())
