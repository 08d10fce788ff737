"""The worker layer: what runs inside a worker sub-interpreter (its loop, watchdog, event loop
for coroutines, and actor host).  Import-light on purpose: every worker imports it, so it
loads neither ``asyncio`` nor ``typing`` nor ``concurrent.futures``, and never imports the
engine, API or backends layers."""
