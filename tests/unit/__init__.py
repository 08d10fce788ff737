"""The layers under the pool: the wire (values, functions, errors, buffers), the
platform shim, and the import layers themselves."""
