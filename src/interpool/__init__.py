"""interpool: real parallelism in one process, on a warm pool of sub-interpreters.

Public names::

    Pool            the executor (``submit``, ``map``, ``await run``, ``shutdown``)
    BrokenPool      raised when a pool can no longer run tasks
    RemoteError     a worker's exception that could not be sent back as itself
    RemoteTraceback the worker's traceback text, set as ``__cause__`` of task errors
"""

from ._errors import BrokenPool, RemoteError, RemoteTraceback
from ._pool import Pool

__all__ = ["BrokenPool", "Pool", "RemoteError", "RemoteTraceback"]
__version__ = "0.1.0"
