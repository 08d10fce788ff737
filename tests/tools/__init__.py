"""The tools: ``python -m interpool bench``, ``doctor`` and ``check_modules``."""
