"""The wire layer: the messages between the caller and its workers (``protocol``), how values
and calls are encoded (``transport``, ``buffers``, ``functions``, ``pickled``), large ``bytes``
handed over whole (``handoff``) and exceptions carried across (``errors``).  Shared by both
sides, so import-light like the worker layer."""
