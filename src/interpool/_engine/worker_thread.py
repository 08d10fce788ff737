"""The caller-side half of a worker: a thread that creates one sub-interpreter, runs
the worker loop (``_worker.loop.serve``) inside it until told to stop, then destroys it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from interpool._engine.interpreter_options import InterpreterOptions, create_interpreter

__all__ = ["WorkerThread"]

_BOOT = """\
import sys
sys.path[:] = _interpool_path
from interpool._worker.loop import serve
serve(*_interpool_args)
"""


class WorkerThread:
    """Owns one worker interpreter for its whole life.

    The interpreter is created with ``options`` (``interpreter_options.create_interpreter``).
    ``path`` becomes the worker's ``sys.path`` (sub-interpreters do not inherit the
    caller's); ``args`` are passed to ``_worker.loop.serve`` inside the interpreter.  When the
    loop ends, normally or not, ``before_close()`` runs while the interpreter still
    exists (to take the results it queued), then the interpreter is closed and
    ``on_exit(error)`` is called with ``None`` or the exception that ended the loop
    abnormally.
    """

    def __init__(
        self,
        index: int,
        path: tuple[str, ...],
        args: tuple[Any, ...],
        before_close: Callable[[], None],
        on_exit: Callable[[BaseException | None], None],
        *,
        options: InterpreterOptions,
    ) -> None:
        self._options = options
        self._path = path
        self._args = args
        self._before_close = before_close
        self._on_exit = on_exit
        self.thread = threading.Thread(target=self._run, name=f"interpool-worker-{index}")

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        error: BaseException | None = None
        interp = None
        try:
            # Ctrl-C is the main thread's: the kernel must not deliver SIGINT to this
            # thread (a blocking call of a task would return early with EINTR), nor to
            # the watchdog thread the worker starts (it inherits this mask).
            if hasattr(signal, "pthread_sigmask"):
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            interp = create_interpreter(self._options)
            interp.prepare_main(
                _interpool_path=self._path,
                _interpool_args=self._args,
            )
            interp.exec(_BOOT)
        except BaseException as exc:  # noqa: BLE001 - reported through on_exit
            error = exc
        finally:
            if interp is not None:
                try:
                    self._before_close()
                    interp.close()
                except Exception as exc:  # noqa: BLE001
                    error = error or exc
            self._on_exit(error)
