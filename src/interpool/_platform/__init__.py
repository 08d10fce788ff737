"""The platform layer: thin shims over what CPython offers (the interpreters and queues
modules of 3.13/3.14+, eventfd signals, event-loop detection) and a callback timer
(``deadlines``).  Imports nothing of interpool."""
