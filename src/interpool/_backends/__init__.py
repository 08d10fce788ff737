"""The backends layer: one contract (``base``) and one engine behind it per kind of worker
(sub-interpreters, processes, threads, a Dask cluster), plus the fallback that reroutes a
sub-interpreter's refused task to processes."""
