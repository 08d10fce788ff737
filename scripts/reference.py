"""Write ``docs/reference.md``: every public name of interpool, with its signature and
its docstring (where the semantics are stated), so the reference is the code's own.

    python scripts/reference.py           # rewrite docs/reference.md
    python scripts/reference.py --check   # exit 1 (and say so) if it is out of date

``tests/integration/test_docs.py`` runs the check, so a docstring changed without
regenerating the reference fails the tests.  Generated with Python 3.14 (signatures print a little
differently elsewhere); the test checks on 3.14 only.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "reference.md"

#: Special methods worth listing when a class defines them (the rest are protocol).
_SPECIAL = ("__call__",)

#: Classes that interpool makes and user code only receives: what makes them is shown
#: instead of their constructor's signature (which takes internal objects).
_MADE_BY = {
    "PoolFuture": "`Pool.submit()` and every other call of a pool, `TaskOptions` or actor",
    "Actor": "`Pool.actor()`",
    "ActorMethod": "an actor's attribute (`actor.method`), or `Actor.method(name)`",
    "Sender": "`channel()`",
    "Receiver": "`channel()`",
    "TaskOptions": "`Pool.options()`",
}

#: Type aliases used in public signatures, written out (their names are internal).
_ALIASES = {
    "BackendName": "Literal['interpreters', 'processes', 'threads', 'dask']",
    "Preset": "Literal['isolated', 'legacy']",
    "Progress": "bool | Mapping[str, Any] | tqdm | None",
    "Worker": "distributed.Worker",
}

#: Names a signature may use besides the builtins and interpool's public names.
_TYPING = {
    "Any", "AsyncIterable", "AsyncIterator", "Callable", "Coroutine", "Iterable", "Iterator",
    "Literal", "Mapping", "Self", "P", "R", "T", "args", "kwargs", "tqdm", "distributed", "Worker",
    "Future", "os", "PathLike",
}  # fmt: skip


class PrivateTypeError(Exception):
    """A public signature names a type that is not public."""


_HEADER = """\
# interpool reference

Every public name of `interpool`, with its signature and docstring. Generated from the
code by `python scripts/reference.py` (do not edit by hand:
`tests/integration/test_docs.py` fails when this file and the docstrings differ). The
[README](../README.md) has the tour and the measured figures; the
[user guide](guide.md) the full semantics; this page is the contract.

"""


def _signature(obj: object) -> str:
    try:
        text = str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "(...)"
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    for alias, written in _ALIASES.items():
        text = re.sub(rf"\b{alias}\b", written, text)
    _check_public(text)
    return text


def _public_names() -> set[str]:
    import builtins

    import interpool
    import interpool.dask_worker

    return {*dir(builtins), *interpool.__all__, *interpool.dask_worker.__all__, *_TYPING}


def _check_public(signature: str) -> None:
    """``PrivateTypeError`` if an annotation of ``signature`` names a type that a
    reader cannot import from interpool (an internal class, or a type alias)."""
    allowed = _public_names()
    for _, annotation in re.findall(r"""(?:: |-> )(['"])(.*?)\1""", signature):
        bare = re.sub(r"Literal\[[^\]]*\]", "Literal", annotation)
        unknown = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", bare)) - allowed
        if unknown:
            raise PrivateTypeError(
                f"the public signature {signature!r} names {sorted(unknown)}, which are not "
                "public: make them public, write the alias out (_ALIASES), or list the class "
                "in _MADE_BY"
            )


def _doc(obj: object) -> str:
    return (inspect.getdoc(obj) or "(no docstring)").strip()


def _members(cls: type) -> list[tuple[str, object, str]]:
    """``(name, object, kind)`` of the public members ``cls`` defines, itself or
    through a private base class (``Pool``'s calls, shared with ``TaskOptions``)."""
    found = []
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    own = [cls, *(b for b in cls.__mro__[1:] if b.__name__.startswith("_"))]
    seen: set[str] = set()
    for name, raw in [item for klass in own for item in vars(klass).items()]:
        if name in fields or name in seen or (name.startswith("_") and name not in _SPECIAL):
            continue
        seen.add(name)
        if isinstance(raw, property):
            found.append((name, raw, "property"))
        elif isinstance(raw, classmethod):
            found.append((name, getattr(cls, name), "classmethod"))
        elif isinstance(raw, staticmethod):
            found.append((name, raw.__func__, "staticmethod"))
        elif callable(raw):
            found.append((name, raw, "method"))
    return found


def _class(name: str, cls: type) -> list[str]:
    bases = [
        b.__name__ for b in cls.__bases__ if b is not object and not b.__name__.startswith("_")
    ]
    kind = "exception" if issubclass(cls, BaseException) else "class"
    lines = [f"## `{name}`", ""]
    lines += [
        f"*{kind}*" + (f", subclass of {', '.join(f'`{b}`' for b in bases)}" if bases else "")
    ]
    made_by = _MADE_BY.get(name)
    if made_by is None:
        lines += ["", "```text", f"{name}{_signature(cls)}", "```", "", _doc(cls), ""]
    else:
        lines += ["", f"Made by {made_by}; not constructed by user code.", "", _doc(cls), ""]
    if dataclasses.is_dataclass(cls):
        lines += ["Fields:", ""]
        for field in dataclasses.fields(cls):
            default = "" if field.default is dataclasses.MISSING else f" = {field.default!r}"
            lines.append(f"* `{field.name}: {field.type}{default}`")
        lines.append("")
    for member, obj, mkind in _members(cls):
        if mkind == "property":
            lines += [f"### `{name}.{member}`", "", "*property*", "", _doc(obj), ""]
        else:
            lines += [f"### `{name}.{member}`", ""]
            if mkind != "method":
                lines += [f"*{mkind}*", ""]
            lines += ["```text", f"{member}{_signature(obj)}", "```", "", _doc(obj), ""]
    return lines


def _entries(module: object, prefix: str) -> list[str]:
    lines: list[str] = []
    names = sorted(module.__all__, key=lambda n: (n != "Pool", n.lower()))  # type: ignore[attr-defined]
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            lines += _class(prefix + name, obj)
        else:
            lines += [f"## `{prefix}{name}`", "", "*function*", "", "```text"]
            lines += [f"{prefix}{name}{_signature(obj)}", "```", "", _doc(obj), ""]
    return lines


def render() -> str:
    """The reference, as Markdown: the package's names, then those of
    ``interpool.dask_worker`` (sub-interpreters in Dask workers; needs the ``dask``
    extra)."""
    import interpool
    import interpool.dask_worker

    names = sorted(interpool.__all__, key=lambda n: (n != "Pool", n.lower()))
    extra = [f"dask_worker.{n}" for n in sorted(interpool.dask_worker.__all__)]
    lines = [
        _HEADER.rstrip("\n"),
        "",
        "Contents: "
        + ", ".join(f"[`{n}`](#{n.lower().replace('.', '')})" for n in [*names, *extra]),
        "",
        *_entries(interpool, ""),
        "# `interpool.dask_worker`",
        "",
        _doc(interpool.dask_worker),
        "",
        *_entries(interpool.dask_worker, "dask_worker."),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is out of date: run python scripts/reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
