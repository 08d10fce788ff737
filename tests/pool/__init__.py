"""The API on the interpreters backend: ``Pool``, ``map`` and streams, async,
cancellation, time limits, shutdown, lifecycle, interpreter options, progress, actors,
channels, worker health, bad input."""
