"""The API layer: what the user calls (``Pool``, its task options, streams, async calls,
progress bars, actors, channels).  It shapes the calls and hands every task to a backend."""
