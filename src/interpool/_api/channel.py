"""Channels: ``send, recv = channel(maxsize)`` streams values between interpreters.

The two ends, :class:`Sender` and :class:`Receiver`, work in the main interpreter and in
any worker, and cross into a worker as task arguments (``pool.submit(fn, send)``) or
inside values sent through another channel.  Blocking calls sleep in the kernel with
the GIL released, without polling (``concurrent.interpreters.Queue.get()`` sleeps 10 ms
between polls); ``await aget()`` / ``await aput()`` wait in the event loop (asyncio or
trio) without a thread.

How it works (all the shared state lives in kernel objects and ``_interpqueues`` queues,
which every interpreter of the process reaches by id):

* ``items``: a ``concurrent.interpreters`` queue with the channel's ``maxsize``; its
  own bound gives backpressure (``put`` on a full queue fails atomically).
* ``readers`` / ``senders``: one token per receiver / sender that sleeps (or is about to).
  A ``put`` checks ``readers`` after queueing its item and notifies the ``data``
  eventfd only if it is not empty; a ``get`` checks ``senders`` after taking an item
  and notifies the ``space`` eventfd (both are non-blocking ``_platform.signals``).  A
  sleeper adds its token *before* it checks the items queue one last time, and the
  waker checks for tokens *after* its queue operation; every queue operation takes the
  queue's mutex, so at least one of the two sees the other (the flag-then-check rule of
  ``_platform.signals``) and no wake-up is lost.  With nobody asleep, ``put`` and
  ``get`` make no system call.
* ``state``: empty while the channel is open; ``close()`` puts a marker in it, then
  notifies both eventfds.
* Reading an eventfd consumes every pending notification, and each notification may
  wake one sleeper only, so a sleeper that leaves (with an item, by timeout, on close,
  or cancelled) notifies again when items (or room, or the close) remain and other
  sleepers are registered: the wake-up is passed on until nobody sleeps.
* Before sleeping, a blocking ``get``/``put`` spins for :data:`SPIN_SECONDS` (yielding
  the CPU), which makes a steady stream of values cheap; an idle channel uses no CPU.
  In a worker interpreter a sleep is cut into :data:`WORKER_SLICE_SECONDS` slices, so
  that the pool can interrupt a task blocked on a channel (``future.cancel()``,
  ``task_timeout``): an interruption only fires between bytecodes.

Items live in the interpreter that sent them until a receiver takes them (that is how
``concurrent.interpreters`` queues work): if a worker interpreter is destroyed (pool
shut down, worker recycled or replaced) while items it sent are still in the channel,
those items are lost, and ``get`` raises :class:`ItemLost` for each of them.  The
close marker and the sleeper tokens survive their interpreter (the queues replace an
orphaned item with a placeholder, which counts the same).

Values cross as task arguments do (``None``, ``bool``, ``int``, ``float``, ``str``,
``bytes`` and small tuples of these natively, everything else pickled, by value with
cloudpickle for lambdas and closures), except that large buffers (``bytearray``,
``memoryview``, ``array``) are pickled *in band*: a value in the channel is read by its
receiver at an unknown later time, possibly after the sending interpreter is gone, so
it must not be a view of the sender's memory.  Channel ends inside a value travel with
their queues as native objects, which keeps the channel alive in transit.

Lifetime: a channel lives while an end of it exists in some interpreter (the queues are
reference-counted across interpreters), or is in transit: pickled with protocol 5
(task arguments and results), an end carries a one-byte buffer out of band that pins
its channel in the sending interpreter until the receiver has attached to it.  Its
eventfds are closed exactly once, by the interpreter that created the channel, when
its last end there is collected *and* the queues are gone from every interpreter
(otherwise at the next ``channel()`` call or collection of an end there, once they
are).  A channel whose creating worker interpreter is destroyed while the channel is
still in use keeps its eventfds open until the process exits (bounded: one or two per
such channel).

Both interpreters import this module; it must stay free of heavy imports.
"""

from __future__ import annotations

import _interpqueues
import contextlib
import os
import pickle
import sys
import threading
import time
import types
import weakref

from interpool import exceptions as _errors
from interpool._api.arguments import deadline as _deadline
from interpool._platform import eventloop, signals
from interpool._platform.interpreters import (
    Queue,
    QueueEmpty,
    QueueFull,
    create_queue,
    queue_get,
    queue_put,
)
from interpool._wire import buffers, transport
from interpool.exceptions import ChannelClosed, EndOfChannel, ItemLost

TYPE_CHECKING = False  # typing is slow to import, and every worker imports this
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Generic, Self, TypeVar

    T = TypeVar("T")
else:
    T = None

    class Generic:
        """At run time the ends are plain classes (``typing`` is not imported in
        workers); ``Sender[int]`` still works, through ``__class_getitem__``."""

        def __class_getitem__(cls, item: object) -> type:
            return object


__all__ = [
    "DEFAULT_MAXSIZE",
    "SPIN_SECONDS",
    "WORKER_SLICE_SECONDS",
    "Receiver",
    "Sender",
    "channel",
]

#: ``channel()``'s default bound: a producer may run this many items ahead of its
#: consumers before ``put`` blocks.
DEFAULT_MAXSIZE = 64

#: How long a blocking ``get``/``put`` spins (yielding the CPU) before it sleeps.
SPIN_SECONDS = 50e-6

#: In a worker interpreter, a sleep wakes up this often to let the pool interrupt it.
WORKER_SLICE_SECONDS = 0.1


# -- raw queue operations ------------------------------------------------------------

# One signature on every Python (see _platform.interpreters).
_raw_put: Any = queue_put
_raw_get: Any = queue_get
_count: Any = _interpqueues.get_count
_QueueNotFound: Any = _interpqueues.QueueNotFoundError

_monotonic = time.monotonic
_perf = time.perf_counter
_sched_yield = os.sched_yield
_notify = signals.notify
_drain = signals.drain
_trio = eventloop.trio


def _interp_id() -> int:
    import _interpreters

    current: Any = _interpreters.get_current()
    return int(current[0])


def _main_id() -> int:
    import _interpreters

    main: Any = _interpreters.get_main()
    return int(main[0])


#: Where this module runs: ``(pid, interpreter id)``.
_HERE = (os.getpid(), _interp_id())
_IN_WORKER = _HERE[1] != _main_id()
_SLICE_MS = int(WORKER_SLICE_SECONDS * 1000)


def _wait_fd(rfd: int, deadline: float | None) -> bool:
    """Sleep until ``rfd`` is notified (and consume it) or ``deadline`` passes; False
    only if the deadline had passed.  True does not promise anything: re-check."""
    if deadline is None:
        ms = _SLICE_MS if _IN_WORKER else None
    else:
        remaining = deadline - _monotonic()
        if remaining <= 0:
            return False
        ms = int(remaining * 1000) + 1
        if _IN_WORKER:
            ms = min(ms, _SLICE_MS)
    if signals.readable(rfd, ms):
        _drain(rfd)
    return True


def _leave(qid: int) -> None:
    """Take one sleeper token out of ``qid`` (any: they are all alike)."""
    with contextlib.suppress(QueueEmpty):  # every sleeper put one in
        _raw_get(qid)


#: How a ``timeout`` of ``True``/``False`` is explained (a ``block`` flag, as
#: ``queue.Queue.put(item, block)`` takes).
_NO_BLOCK_FLAG = " (channels have no 'block' flag: use put_nowait()/get_nowait())"


def _timed_out(what: str, timeout: float | None) -> TimeoutError:
    return TimeoutError(f"interpool: {what} timed out after {timeout} s")


# -- the shared core of a channel, one per channel per interpreter ----------------------

#: State that pickles (see ``_End.__reduce_ex__``): ``(pid, creator interpreter, qids,
#: fds, maxsize, main script ref)``; ``qids`` are ``(items, readers, senders, state)``,
#: ``fds`` are ``(data read, data write, space read, space write)`` (-1: none).
if TYPE_CHECKING:
    _State = tuple[int, int, tuple[int, int, int, int], tuple[int, int, int, int], int, Any]


class _Core:
    """A channel as one interpreter sees it: its queues (held, so the channel lives as
    long as this object does) and descriptors."""

    __slots__ = ("__weakref__", "fds", "maxsize", "qids", "queues", "state")

    def __init__(self, state: _State, queues: tuple[Queue, ...]) -> None:
        self.state = state
        self.qids = state[2]
        self.fds = state[3]
        self.maxsize = state[4]
        #: Held, never used: our binding of each queue.
        self.queues = queues

    def __del__(self) -> None:
        try:
            if (self.state[0], self.state[1]) != _HERE:
                return  # only the creating interpreter closes the descriptors
            self.queues = ()  # release our binding now: the queues may go with it
            _orphans[self.qids[0]] = self.fds
            _sweep()
        except Exception:  # noqa: BLE001 - at interpreter exit, globals may be gone
            pass


#: This interpreter's cores, by items queue id.
_cores: weakref.WeakValueDictionary[int, _Core] = weakref.WeakValueDictionary()
_cores_lock = threading.Lock()

#: Descriptors of channels created here whose cores here are gone: closed once their
#: queues are gone from every interpreter.  ``items qid -> fds``.
_orphans: dict[int, tuple[int, int, int, int]] = {}
_orphans_lock = threading.RLock()


def _sweep() -> None:
    """Close the descriptors of the orphaned channels whose queues no longer exist
    (queue ids are never reused, so a missing queue never comes back)."""
    if not _orphans:
        return
    with _orphans_lock:
        for qid, fds in list(_orphans.items()):
            try:
                _count(qid)
            except _QueueNotFound:
                if _orphans.pop(qid, None) is not None:
                    _close_signals(fds)


def _close_signals(fds: tuple[int, ...]) -> None:
    """Close a channel's signals: ``(data read, data write[, space read, space
    write])``, -1 for none."""
    for i in range(0, len(fds), 2):
        if fds[i] >= 0:
            with contextlib.suppress(OSError):
                signals.close(fds[i], fds[i + 1])


def _create(maxsize: int) -> _Core:
    _sweep()
    made: tuple[int, ...] = ()
    try:
        data = signals.new(blocking=False)
        made = data
        space = signals.new(blocking=False) if maxsize else (-1, -1)
    except OSError as exc:
        _close_signals(made)
        raise OSError(
            exc.errno,
            f"interpool: cannot create a channel: {exc.strerror} (each channel needs "
            "one or two file descriptors while it lives; drop the ends of channels "
            "you no longer use)",
        ) from exc
    queues = (create_queue(maxsize), create_queue(), create_queue(), create_queue())
    state: _State = (
        _HERE[0],
        _HERE[1],
        (queues[0].id, queues[1].id, queues[2].id, queues[3].id),
        (*data, *space),
        maxsize,
        _main_ref(),
    )
    core = _Core(state, queues)
    with _cores_lock:
        _cores[queues[0].id] = core
    return core


def _attach(state: _State) -> _Core:
    """This interpreter's core for the channel ``state`` describes."""
    if state[0] != _HERE[0]:
        raise RuntimeError(
            "interpool: a channel end cannot be used in another process: channels "
            "connect the interpreters of one process (a pool with fallback='processes' "
            "cannot pass them to its process workers)"
        )
    qids = state[2]
    with _cores_lock:
        core = _cores.get(qids[0])
        if core is not None:
            return core
        try:
            queues = tuple(Queue(qid) for qid in qids)
        except _QueueNotFound:
            raise ChannelClosed(
                "interpool: this channel end arrived after its channel was destroyed: "
                "no end of it was left in any interpreter (keep an end alive until "
                "the task that receives one has started)"
            ) from None
        core = _Core(state, queues)
        _cores[qids[0]] = core
    global _main_hint
    if state[5] is not None and _main_hint is None:
        _main_hint = state[5]
    return core


# -- how values cross -------------------------------------------------------------------

_SCALARS = frozenset({type(None), bool, int, float, str, bytes})

#: Item formats (an item of a native scalar type is the value itself).
_NATIVE_TUPLE = 0  #: ``(0, value)``: a natively shareable tuple
_PICKLE = 1  #: ``(1, pickle)``
_PICKLE_ENDS = 2  #: ``(2, pickle, queues)``: holding channel ends, their queues beside


class _Encoding(threading.local):
    #: While a value is pickled for a channel: the queues of the ends met in it.
    ends: list[tuple[Queue, ...]] | None = None


_encoding = _Encoding()


def _encode(value: Any) -> Any:
    t = type(value)
    if t in _SCALARS:
        return value
    if t is tuple and transport.is_native(value):
        return (_NATIVE_TUPLE, value)
    saved = _encoding.ends
    ends: list[tuple[Queue, ...]] = []
    _encoding.ends = ends
    try:
        data = _pickle_in_band(value)
    finally:
        _encoding.ends = saved
    if ends:
        return (_PICKLE_ENDS, data, tuple(ends))
    return (_PICKLE, data)


def _pickle_in_band(value: Any) -> bytes:
    try:
        try:
            data = pickle.dumps(value, 5)
        except Exception:  # noqa: BLE001 - e.g. a memoryview: the pool's pickler knows it
            data = buffers.dumps_in_band(value)
        if buffers.by_value_needed(data):  # __main__ of a REPL or python -c: by value
            return buffers.by_value_in_band(value)
        return data
    except Exception as exc:
        try:
            return buffers.by_value_in_band(value)  # lambdas, closures, local classes
        except Exception:  # noqa: BLE001 - report the plain pickle's error
            pass
        t = type(value)
        raise TypeError(
            f"interpool: a {t.__module__}.{t.__qualname__} cannot be sent through a "
            f"channel: {exc}. Send a picklable value (or create the object where it "
            "is used)."
        ) from exc


def _decode(item: Any) -> Any:
    if type(item) is not tuple:
        return item
    fmt = item[0]
    if fmt == _NATIVE_TUPLE:
        return item[1]
    # For _PICKLE_ENDS, item[2] (the ends' queues) stays referenced until loaded.
    return transport.load(item[1], _main_loader)


#: How workers find the caller's ``__main__`` script (``_wire.functions.MainRef``): learnt
#: from the ends of channels created in the main interpreter.
_main_hint: Any = None


def _main_ref() -> Any:
    if _IN_WORKER:
        return _main_hint
    from interpool._wire.functions import main_ref

    return main_ref()


def _main_loader() -> Any:
    """The module that ``__main__`` names in a pickle: the script itself in the main
    interpreter; in a worker, the script as the pool loads it (``__interpool_main__``),
    loaded here if no task has loaded it yet."""
    if not _IN_WORKER:
        return sys.modules["__main__"]
    module = sys.modules.get(transport.MAIN_ALIAS)
    if module is not None:
        return module
    from interpool._wire.functions import FunctionCache

    return FunctionCache(_main_hint).main_module()


# -- the ends -----------------------------------------------------------------------------


class _Pin(bytearray):
    """The one-byte buffer a pickled end carries out of band: while the receiving
    interpreter holds its view, this object (and through it the channel) stays alive
    in the sending one."""

    __slots__ = ("core",)

    def __init__(self, core: _Core) -> None:
        super().__init__(1)
        self.core = core


def _rebuild(cls: type[_End], state: _State, pin: Any) -> _End:
    core = _attach(state)
    if type(pin) is memoryview:
        with contextlib.suppress(BufferError):  # (if the unpickler exported it again)
            pin.release()  # attached: the sender's pin may go
    return cls(core)


class _End:
    """What both ends share: ``close``, ``closed``, ``qsize``, pickling."""

    __slots__ = ("_core", "_data_w", "_items", "_readers", "_senders", "_space_w", "_state")

    def __init__(self, core: _Core) -> None:
        # Use channel() to make a channel; this is internal.
        if not isinstance(core, _Core):
            raise TypeError(
                f"interpool: {type(self).__name__} objects are made by "
                "interpool.channel(maxsize): send, recv = channel()"
            )
        self._core = core
        self._items, self._readers, self._senders, self._state = core.qids
        self._data_w = core.fds[1]
        self._space_w = core.fds[3]

    # -- state -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the channel (either end closes the whole channel; idempotent).

        Afterwards ``put`` raises :class:`ChannelClosed` (also a ``put`` blocked on a
        full channel, at once), and receivers get the items already in the channel,
        then :class:`EndOfChannel`, a ``ChannelClosed`` (iteration stops).  Every
        blocked ``get``/``put``, in every interpreter, wakes up.  A ``put`` that races
        with ``close`` either raises or delivers its item."""
        if not _count(self._state):
            _raw_put(self._state, None)
        _notify(self._data_w)
        if self._space_w >= 0:
            _notify(self._space_w)

    @property
    def closed(self) -> bool:
        """Whether the channel was closed (by either end, in any interpreter)."""
        return bool(_count(self._state))

    @property
    def maxsize(self) -> int:
        """The channel's bound (0: unbounded)."""
        return self._core.maxsize

    def qsize(self) -> int:
        """How many items are in the channel now (a snapshot)."""
        return int(_count(self._items))

    def __len__(self) -> int:
        return int(_count(self._items))

    def __bool__(self) -> bool:
        return True  # an end is not false when its channel is empty

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Leaving a ``with`` block closes the channel."""
        self.close()

    def __repr__(self) -> str:
        size = f"/{self._core.maxsize}" if self._core.maxsize else ""
        closed = ", closed" if self.closed else ""
        name = type(self).__name__
        return f"<interpool.{name} of channel {self._items} ({len(self)}{size} items{closed})>"

    if not TYPE_CHECKING:
        __class_getitem__ = classmethod(types.GenericAlias)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        core = self._core
        ends = _encoding.ends
        if ends is not None:  # inside a channel item: the queues travel beside it
            ends.append(core.queues)
            return _rebuild, (type(self), core.state, None)
        if isinstance(protocol, int) and protocol >= 5:
            return _rebuild, (type(self), core.state, pickle.PickleBuffer(_Pin(core)))
        return _rebuild, (type(self), core.state, None)

    def _closed_error(self, what: str) -> ChannelClosed:
        return ChannelClosed(f"interpool: {what} on a closed channel")

    def _end_error(self, what: str) -> EndOfChannel:
        return EndOfChannel(
            f"interpool: {what}: end of the channel (closed, and every item received)"
        )

    def _baton(self, sleepers: int, wfd: int, more: Callable[[], bool]) -> None:
        """A sleeper leaves: pass the wake-up on if another sleeper may proceed."""
        _leave(sleepers)
        if _count(sleepers) and (_count(self._state) or more()):
            _notify(wfd)


class Sender(_End, Generic[T]):
    """The sending end of a channel (see :func:`channel`).

    Pass it to tasks (``pool.submit(producer, send)``), send it through another
    channel, keep it in the caller: every copy sends into the same channel.  ``with
    send:`` closes the channel when the block ends."""

    __module__ = "interpool"  # its public name, in tracebacks and reprs

    __slots__ = ()

    def put(self, value: T, timeout: float | None = None) -> None:
        """Send ``value``; block while the channel is full (at most ``timeout``
        seconds, then raise ``TimeoutError``; the value is then not sent).

        Raises :class:`ChannelClosed` if the channel is closed (also while blocked),
        ``TypeError`` if the value cannot be sent (see the module docstring)."""
        deadline = _deadline(timeout, _NO_BLOCK_FLAG)
        if _count(self._state):
            raise self._closed_error("put()")
        item = _encode(value)
        try:
            _raw_put(self._items, item)
        except QueueFull:
            self._put_wait(item, deadline, timeout)
        if _count(self._readers):
            _notify(self._data_w)

    def put_nowait(self, value: T) -> None:
        """Send ``value`` if there is room at once, else raise :class:`QueueFull` (a
        ``queue.Full``).  Raises :class:`ChannelClosed` if the channel is closed."""
        if _count(self._state):
            raise self._closed_error("put_nowait()")
        try:
            _raw_put(self._items, _encode(value))
        except QueueFull:
            raise _errors.QueueFull("interpool: the channel is full") from None
        if _count(self._readers):
            _notify(self._data_w)

    def _room(self) -> bool:
        return bool(_count(self._items) < self._core.maxsize)

    def _put_wait(self, item: Any, deadline: float | None, timeout: float | None) -> None:
        items, state = self._items, self._state
        end = _perf() + SPIN_SECONDS
        while _perf() < end:
            _sched_yield()
            if _count(state):
                raise self._closed_error("put()")
            try:
                _raw_put(items, item)
                return
            except QueueFull:
                pass
        senders, rfd = self._senders, self._core.fds[2]
        try:
            # In the try: an interruption after it must take the token back.
            _raw_put(senders, None)  # flag, then check
            while True:
                if _count(state):
                    raise self._closed_error("put()")
                try:
                    _raw_put(items, item)
                    return
                except QueueFull:
                    pass
                if not _wait_fd(rfd, deadline):
                    raise _timed_out("put()", timeout)
        finally:
            self._baton(senders, self._space_w, self._room)

    async def aput(self, value: T) -> None:
        """``put`` for an event loop (asyncio or trio): waits for room without
        blocking the loop or using a thread.  Cancelled while it waits, the value is
        not sent.  (For a time limit, use the library's: ``asyncio.timeout``,
        ``trio.fail_after``.)"""
        trio = _trio()
        if trio is not None:
            await trio.lowlevel.checkpoint_if_cancelled()
        if _count(self._state):
            raise self._closed_error("aput()")
        item = _encode(value)
        try:
            _raw_put(self._items, item)
        except QueueFull:
            await self._aput_wait(item)
        else:
            if trio is not None:
                await trio.lowlevel.cancel_shielded_checkpoint()
        if _count(self._readers):
            _notify(self._data_w)

    async def _aput_wait(self, item: Any) -> None:
        items, state, senders = self._items, self._state, self._senders
        try:
            # In the try: an interruption after it must take the token back.
            _raw_put(senders, None)  # flag, then check
            while True:
                if _count(state):
                    raise self._closed_error("aput()")
                try:
                    _raw_put(items, item)
                    return
                except QueueFull:
                    pass
                await _readable(self._core.fds[2])
        finally:
            self._baton(senders, self._space_w, self._room)


class Receiver(_End, Generic[T]):
    """The receiving end of a channel (see :func:`channel`).

    ``for value in recv:`` (or ``async for``) receives until the channel is closed
    and drained.  Several receivers may share a channel (in one interpreter or many):
    each item goes to exactly one of them."""

    __module__ = "interpool"  # its public name, in tracebacks and reprs

    __slots__ = ()

    def get(self, timeout: float | None = None) -> T:
        """Receive the next item; block while the channel is empty (at most
        ``timeout`` seconds, then raise ``TimeoutError``).

        Raises :class:`EndOfChannel` (a ``ChannelClosed``) once the channel is closed
        and empty, and
        :class:`ItemLost` for an item whose sending interpreter was destroyed; an item
        that cannot be rebuilt here (its class does not import) raises the unpickling
        error, and is consumed.  A task that its pool interrupts (``cancel()``,
        ``task_timeout``) while it is in ``get`` may lose the item it was taking."""
        deadline = _deadline(timeout, _NO_BLOCK_FLAG)
        try:
            item, lost = _raw_get(self._items)
        except QueueEmpty:
            item, lost = self._get_wait(deadline, timeout)
        if self._space_w >= 0 and _count(self._senders):
            _notify(self._space_w)
        if lost is not None:
            raise _lost()
        return _decode(item)  # type: ignore[no-any-return]

    def get_nowait(self) -> T:
        """Receive an item if there is one, else raise :class:`QueueEmpty` (a
        ``queue.Empty``), or :class:`EndOfChannel` if the channel is closed (and
        empty)."""
        try:
            item, lost = _raw_get(self._items)
        except QueueEmpty:
            item, lost = self._get_closed("get_nowait()")
        if self._space_w >= 0 and _count(self._senders):
            _notify(self._space_w)
        if lost is not None:
            raise _lost()
        return _decode(item)  # type: ignore[no-any-return]

    def _get_closed(self, what: str) -> tuple[Any, Any]:
        """The channel looked empty: an item, or the reason there is none."""
        if _count(self._state):
            try:  # an item sent just before the close
                return _raw_get(self._items)  # type: ignore[no-any-return]
            except QueueEmpty:
                raise self._end_error(what) from None
        raise _errors.QueueEmpty("interpool: the channel is empty")

    def _more(self) -> bool:
        return bool(_count(self._items))

    def _get_wait(self, deadline: float | None, timeout: float | None) -> tuple[Any, Any]:
        items, state = self._items, self._state
        end = _perf() + SPIN_SECONDS
        while _perf() < end:
            _sched_yield()
            if _count(items) or _count(state):
                try:
                    return _raw_get(items)  # type: ignore[no-any-return]
                except QueueEmpty:
                    if _count(state):
                        raise self._end_error("get()") from None
        readers, rfd = self._readers, self._core.fds[0]
        try:
            # In the try: an interruption after it must take the token back.
            _raw_put(readers, None)  # flag, then check
            while True:
                try:
                    return _raw_get(items)  # type: ignore[no-any-return]
                except QueueEmpty:
                    pass
                if _count(state):
                    return self._get_closed("get()")
                if not _wait_fd(rfd, deadline):
                    raise _timed_out("get()", timeout)
        finally:
            self._baton(readers, self._data_w, self._more)

    async def aget(self) -> T:
        """``get`` for an event loop (asyncio or trio): waits without blocking the
        loop or using a thread.  Cancelled while it waits, it takes no item: the next
        item stays for the next ``get``.  (For a time limit, use the library's:
        ``asyncio.timeout``, ``trio.fail_after``.)"""
        trio = _trio()
        if trio is not None:
            await trio.lowlevel.checkpoint_if_cancelled()
        try:
            item, lost = _raw_get(self._items)
        except QueueEmpty:
            item, lost = await self._aget_wait()
        else:
            if trio is not None:
                await trio.lowlevel.cancel_shielded_checkpoint()
        if self._space_w >= 0 and _count(self._senders):
            _notify(self._space_w)
        if lost is not None:
            raise _lost()
        return _decode(item)  # type: ignore[no-any-return]

    async def _aget_wait(self) -> tuple[Any, Any]:
        items, state, readers = self._items, self._state, self._readers
        try:
            # In the try: an interruption after it must take the token back.
            _raw_put(readers, None)  # flag, then check
            while True:
                try:
                    return _raw_get(items)  # type: ignore[no-any-return]
                except QueueEmpty:
                    pass
                if _count(state):
                    return self._get_closed("aget()")
                await _readable(self._core.fds[0])
        finally:
            self._baton(readers, self._data_w, self._more)

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> T:
        try:
            return self.get()
        except EndOfChannel:
            raise StopIteration from None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.aget()
        except EndOfChannel:
            raise StopAsyncIteration from None


def _lost() -> ItemLost:
    return ItemLost(
        "interpool: an item of this channel was lost: the interpreter that sent it was "
        "destroyed (its pool shut down, or the worker was recycled or replaced) before "
        "it was received. Receive what workers send before their pool shuts down."
    )


# -- event loops --------------------------------------------------------------------------


def _wake(future: Any) -> None:
    if not future.done():
        future.set_result(None)


async def _readable(rfd: int) -> None:
    """Wait in the running event loop until ``rfd`` is notified; consume it.

    Each wait watches a duplicate of the descriptor: asyncio keeps one reader per
    descriptor and trio one waiter, and several tasks may wait on one channel."""
    loop = eventloop.asyncio_loop()
    trio: Any = None if loop is not None else _trio()
    if loop is None and trio is None:
        raise RuntimeError(
            "interpool: aget()/aput() must be awaited in an asyncio or trio event loop "
            "(use get()/put() elsewhere)"
        )
    fd = os.dup(rfd)
    try:
        if loop is not None:
            future = loop.create_future()
            loop.add_reader(fd, _wake, future)
            try:
                await future
            finally:
                loop.remove_reader(fd)
        else:
            try:
                await trio.lowlevel.wait_readable(fd)
            finally:
                trio.lowlevel.notify_closing(fd)
    finally:
        os.close(fd)
    _drain(rfd)


# -- making channels ----------------------------------------------------------------------


def channel(maxsize: int | None = DEFAULT_MAXSIZE) -> tuple[Sender[Any], Receiver[Any]]:
    """A new channel: ``(send, recv)``, its two ends.

    ``maxsize`` bounds how many items may wait in the channel: ``put`` blocks while
    it is full (backpressure).  ``0`` or ``None``: unbounded.  Default:
    :data:`DEFAULT_MAXSIZE` (64).

    Values arrive in the order each sender sent them, each to exactly one receiver.
    Annotate the ends to type them: ``send: Sender[int]; send, recv = channel()``.
    """
    if maxsize is None:
        size = 0
    elif type(maxsize) is not int:
        raise TypeError(
            f"interpool: channel(maxsize=...) takes an int (or None for an unbounded "
            f"channel), not {type(maxsize).__name__}"
        )
    elif maxsize < 0:
        raise ValueError(
            f"interpool: channel(maxsize={maxsize}): maxsize must be >= 1, or 0 (or "
            "None) for an unbounded channel"
        )
    elif maxsize > sys.maxsize:
        raise ValueError(f"interpool: channel(maxsize={maxsize}) is too large; use None")
    else:
        size = maxsize
    core = _create(size)
    return Sender(core), Receiver(core)
