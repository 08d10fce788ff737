"""The backends: the shared contract suite, and what only processes, threads, Dask or
the processes fallback do."""
