"""The tools, on top of every other layer (they may use any of them): ``doctor`` and the
module checks behind it, and ``bench``."""
