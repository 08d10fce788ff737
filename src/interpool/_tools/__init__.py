"""Tools built on the public API: ``doctor`` and the module checks behind it, and ``bench``."""
