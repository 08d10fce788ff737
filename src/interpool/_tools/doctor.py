"""``python -m interpool doctor``: which modules an interpool worker can import.

Built on :func:`interpool.check_modules`: each module is imported in a fresh isolated
sub-interpreter, and nothing is imported in the doctor's own interpreter.  Modules
come from the command line (module names, or installed distribution names), from
requirements files (``-r``), or from every installed distribution (``--all``); a
distribution's import names come from ``importlib.metadata.packages_distributions()``.

Each module gets one status:

* ``ok``: it imports in a sub-interpreter;
* ``refuses``: it (or an extension it imports) refuses to load in a sub-interpreter;
* ``fails``: importing it failed for another reason (a missing dependency, a bug...);
* ``missing``: it is not installed (or its distribution is not);
* ``timeout``: its import took longer than the time limit (it may hang).

The report is a table for a terminal, or JSON (``--json``); the exit status is 0 when
every module is ``ok``, 1 otherwise (2 for a usage error, from the command line).
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal, TextIO

from interpool._tools.module_check import ModuleCheck, check_modules

__all__ = [
    "Finding",
    "Report",
    "Target",
    "diagnose",
    "installed_targets",
    "main",
    "named_targets",
    "requirement_targets",
]

Status = Literal["ok", "refuses", "fails", "missing", "timeout"]

#: The statuses in the order of the summary line, with their long names.
STATUSES: dict[Status, str] = {
    "ok": "ok",
    "refuses": "refuse sub-interpreters",
    "fails": "fail to import for another reason",
    "missing": "not installed",
    "timeout": "timed out",
}

#: Seconds each import may take (``--timeout``).
DEFAULT_TIMEOUT = 60.0

_NOT_FOUND = re.compile(r"^ModuleNotFoundError: No module named '([^']+)'")
#: An option line of a requirements file: the option, and its value (after spaces or '=').
_OPTION = re.compile(r"(-[^\s=]*)(?:[\s=]+(.*))?")
#: A requirement's distribution name (PEP 508) and extras, at the start of the line.
_REQUIREMENT = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?")


@dataclass(frozen=True, slots=True)
class Target:
    """A module to check, and the installed distribution it comes from, if known."""

    module: str
    distribution: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """What the doctor found for one module (one row of the report).

    Attributes:
        module: the import name checked.
        status: ``ok``, ``refuses``, ``fails``, ``missing`` or ``timeout`` (see the
            module docstring).
        distribution: the installed distribution that provides it, if known.
        version: that distribution's version, if known.
        error: ``"Type: message"`` of the import's failure, ``None`` when ``ok``.
        advice: what to do, ``""`` when ``ok``.
    """

    module: str
    status: Status
    distribution: str | None = None
    version: str | None = None
    error: str | None = None
    advice: str = ""

    @property
    def ok(self) -> bool:
        """The module imports in a sub-interpreter."""
        return self.status == "ok"


@dataclass(slots=True)
class Report:
    """Every finding, and the notes on what was skipped (requirement lines, names)."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every module checked imports in a sub-interpreter."""
        return all(f.ok for f in self.findings)

    def counts(self) -> dict[Status, int]:
        """How many findings have each status (every status present, in order)."""
        counts = dict.fromkeys(STATUSES, 0)
        for finding in self.findings:
            counts[finding.status] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data: ``python``, ``ok``, ``counts``, ``modules``
        (one object per finding, with every :class:`Finding` field and ``ok``),
        ``notes``."""
        return {
            "python": sys.version.split()[0],
            "executable": sys.executable,
            "ok": self.ok,
            "counts": self.counts(),
            "modules": [{**asdict(f), "ok": f.ok} for f in self.findings],
            "notes": list(self.notes),
        }

    def render(self, width: int = 100) -> str:
        """The report as text for a terminal: a row per module (with the error and
        the advice under each module that is not ``ok``), the notes, a summary."""
        lines = [
            f"Which modules import in a sub-interpreter (an interpool worker)? "
            f"Python {sys.version.split()[0]} ({sys.executable})",
            "",
        ]
        name_width = max((len(f.module) for f in self.findings), default=6)
        name_width = min(max(name_width, 6), 40)
        indent = " " * 11
        for finding in self.findings:
            where = ""
            if finding.version is not None:
                where = f"  ({finding.distribution} {finding.version})"
            elif finding.distribution is not None:
                where = f"  (distribution {finding.distribution}, not installed)"
            row = f"  {finding.status.upper():<8} {finding.module:<{name_width}}{where}"
            lines.append(row.rstrip())
            for label, text in (("error", finding.error), ("advice", finding.advice)):
                if text:
                    lines.extend(
                        textwrap.wrap(
                            text,
                            width,
                            initial_indent=f"{indent}{label}: ",
                            subsequent_indent=indent + " " * (len(label) + 2),
                            break_on_hyphens=False,
                        )
                    )
        if not self.findings:
            lines.append("  (no modules to check)")
        if self.notes:
            lines += ["", "Skipped or noted:"]
            for note in self.notes:
                lines.extend(
                    textwrap.wrap(note, width, initial_indent="  - ", subsequent_indent="    ")
                )
        counts = self.counts()
        summary = ", ".join(
            f"{counts[s]} {STATUSES[s]}" for s in STATUSES if counts[s] or s == "ok"
        )
        total = len(self.findings)
        lines += ["", f"{total} module{'s' if total != 1 else ''} checked: {summary}."]
        return "\n".join(lines) + "\n"


# -- which modules ---------------------------------------------------------------------


def _normalize(distribution: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _is_module_name(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


def _distribution_modules() -> dict[str, tuple[str, list[str]]]:
    """``{normalized distribution name: (its name, its top-level import names)}``
    for the installed distributions, from ``packages_distributions()`` (names that
    are not importable, such as ``__pycache__``, are left out)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(_normalize(name), (name, []))
    for module, dists in metadata.packages_distributions().items():
        if not module.isidentifier() or module.startswith("__"):
            continue
        for dist_name in dict.fromkeys(dists):
            entry = found.setdefault(_normalize(dist_name), (dist_name, []))
            if module not in entry[1]:
                entry[1].append(module)
    return found


def _modules_of(name: str, modules: list[str], notes: list[str]) -> list[str]:
    """The import names to check for distribution ``name``: its public top-level
    modules (private ones, ``_x``, when it has no other), or a guess from its name."""
    public = [m for m in modules if not m.startswith("_")]
    if public:
        return sorted(public)
    if modules:
        return sorted(modules)
    guess = re.sub(r"[-.]+", "_", name).lower()
    notes.append(f"{name}: its metadata lists no top-level modules; checked the guess {guess!r}")
    return [guess]


def named_targets(names: Iterable[str], notes: list[str]) -> list[Target]:
    """Targets for names from the command line: a module that can be found is checked
    as is; else an installed distribution of that name gives its modules; else the
    name is checked as a module (and reported ``missing``).  Raises ``ValueError`` for
    a name that is neither a module name nor an installed distribution."""
    dists = _distribution_modules()
    by_module = {m: dist for dist, modules in dists.values() for m in modules}
    targets: list[Target] = []
    for name in names:
        top = name.partition(".")[0]
        if _is_module_name(name) and _findable(top):
            targets.append(Target(name, by_module.get(top)))
            continue
        entry = dists.get(_normalize(name))
        if entry is not None:
            dist_name, modules = entry
            chosen = _modules_of(dist_name, modules, notes)
            if chosen != [name]:
                notes.append(f"{name} is a distribution: checked its modules {', '.join(chosen)}")
            targets.extend(Target(m, dist_name) for m in chosen)
            continue
        if not _is_module_name(name):
            raise ValueError(
                f"{name!r} is neither a module name nor an installed distribution "
                "(give import names such as 'bs4', or distribution names such as "
                "'beautifulsoup4')"
            )
        targets.append(Target(name))
    return targets


def _findable(top: str) -> bool:
    """Whether top-level module ``top`` can be found (found, not imported)."""
    try:
        return find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def installed_targets(notes: list[str]) -> list[Target]:
    """Targets for every installed distribution's top-level modules (``--all``)."""
    targets: list[Target] = []
    skipped_private = 0
    for dist_name, modules in sorted(_distribution_modules().values(), key=lambda e: e[0].lower()):
        chosen = _modules_of(dist_name, modules, notes)
        skipped_private += len(modules) - len([m for m in modules if m in chosen])
        targets.extend(Target(m, dist_name) for m in chosen)
    if skipped_private:
        notes.append(
            f"{skipped_private} private top-level module(s) (named _x) of distributions "
            "that have public ones were not checked: the public ones import them"
        )
    return _unique(targets)


def requirement_targets(path: str | Path, notes: list[str]) -> list[Target]:
    """Targets for the requirements of a pip requirements file (and the files it
    includes with ``-r``).

    A line names a distribution, with optional extras, version specifiers, a URL
    after ``@`` and an environment marker after ``;``.  A requirement whose marker
    does not hold here is skipped (markers are evaluated with ``packaging`` when it is
    installed, else such requirements are checked anyway); extras are not followed
    (their dependencies are checked only if named).  Comments, blank lines and
    continuation backslashes are handled; ``-r``/``--requirement`` files are read
    relative to the including file; ``-e`` with ``#egg=NAME`` gives NAME; other
    options, constraints files (``-c``) and bare paths or URLs are skipped.  Every
    skip is noted.  A distribution that is not installed gives a ``missing`` finding
    (see :func:`diagnose`) under its name.  Raises ``OSError`` if a file cannot be
    read.
    """
    dists = _distribution_modules()
    targets: list[Target] = []
    for where, requirement in _requirements(Path(path), notes, set()):
        match = _REQUIREMENT.match(requirement)
        if match is None:
            notes.append(f"{where}: not a requirement, skipped: {requirement!r}")
            continue
        name, extras = match.group(1), match.group(2)
        _, _, marker = requirement.partition(";")
        if marker.strip() and not _marker_holds(marker.strip(), where, notes):
            notes.append(f"{where}: {name} skipped: its marker {marker.strip()!r} is false here")
            continue
        if extras:
            notes.append(f"{where}: the extras {extras} of {name} were not followed")
        entry = dists.get(_normalize(name))
        if entry is None:  # not installed: its import name is unknown, guessed from its name
            targets.append(Target(re.sub(r"[-.]+", "_", name).lower(), name))
            continue
        dist_name, modules = entry
        targets.extend(Target(m, dist_name) for m in _modules_of(dist_name, modules, notes))
    return _unique(targets)


def _requirements(path: Path, notes: list[str], seen: set[Path]) -> Iterable[tuple[str, str]]:
    """``(file:line, requirement)`` for each requirement line of ``path`` and the
    files it includes."""
    resolved = path.resolve()
    if resolved in seen:
        notes.append(f"{path}: included more than once, read once")
        return
    seen.add(resolved)
    text = path.read_text(encoding="utf-8")
    logical: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        line = re.sub(r"(?:^|\s)#.*", "", raw).strip()  # a comment: '#' first or after a space
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append((start, (pending + line).strip()))
        pending = ""
    if pending.strip():
        logical.append((start, pending.strip()))
    for number, line in logical:
        where = f"{path}:{number}"
        if not line:
            continue
        if line.startswith("-"):
            option, value = _OPTION.fullmatch(line).groups("")  # type: ignore[union-attr]
            if option in {"-r", "--requirement"} and value:
                yield from _requirements(path.parent / value, notes, seen)
            elif option in {"-e", "--editable"} and "#egg=" in value:
                yield where, value.split("#egg=", 1)[1].split("&", 1)[0]
            elif option in {"-c", "--constraint"}:
                notes.append(f"{where}: constraints file {value} skipped (it selects nothing)")
            else:
                notes.append(f"{where}: option {line!r} skipped")
            continue
        if "://" in line.split("@", 1)[0] or line.startswith((".", "/")):
            notes.append(f"{where}: a path or URL without a name, skipped: {line!r}")
            continue
        yield where, line


def _marker_holds(marker: str, where: str, notes: list[str]) -> bool:
    """Whether environment marker ``marker`` holds here (``True`` when it cannot be
    evaluated, with a note)."""
    try:
        from packaging.markers import InvalidMarker, Marker
    except ImportError:
        notes.append(f"{where}: marker {marker!r} not evaluated (packaging is not installed)")
        return True
    try:
        return bool(Marker(marker).evaluate())
    except InvalidMarker:
        notes.append(f"{where}: invalid marker {marker!r}, checked anyway")
        return True


def _unique(targets: list[Target]) -> list[Target]:
    """``targets`` without repeated modules (the first one kept)."""
    seen: dict[str, Target] = {}
    for target in targets:
        seen.setdefault(target.module, target)
    return list(seen.values())


# -- checking --------------------------------------------------------------------------


def diagnose(
    targets: Sequence[Target], *, timeout: float = DEFAULT_TIMEOUT, jobs: int | None = None
) -> list[Finding]:
    """Check every target with :func:`interpool.check_modules`, at most ``jobs``
    (default: twice the CPU count, at most 8) at a time, each import limited to
    ``timeout`` seconds; return a finding per target, in order.

    A module whose import does not end in time is reported ``timeout``; its import
    goes on in a background thread, which keeps the process alive until it ends (the
    command line exits without waiting for it)."""
    if jobs is None:
        jobs = min(8, 2 * (os.cpu_count() or 1))
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    versions: dict[str, str | None] = {}
    for target in targets:
        if target.distribution is not None and target.distribution not in versions:
            try:
                versions[target.distribution] = metadata.version(target.distribution)
            except metadata.PackageNotFoundError:
                versions[target.distribution] = None

    def check(target: Target) -> Finding:
        version = None if target.distribution is None else versions[target.distribution]
        if target.distribution is not None and version is None:
            return Finding(
                target.module,
                "missing",
                target.distribution,
                None,
                f"distribution {target.distribution} is not installed",
                f"install it (pip install {target.distribution}, with {sys.executable}) "
                "and check again",
            )
        result = check_modules(target.module, timeout=timeout)[target.module]
        return _finding(target, version, result)

    if not targets:
        return []
    with ThreadPoolExecutor(min(jobs, len(targets)), "interpool-doctor") as executor:
        return list(executor.map(check, targets))


def _finding(target: Target, version: str | None, result: ModuleCheck) -> Finding:
    status: Status
    if result.ok:
        status = "ok"
    elif result.incompatible:
        status = "refuses"
    elif (result.error or "").startswith("TimeoutError"):
        status = "timeout"
    else:
        missing = _NOT_FOUND.match(result.error or "")
        name = target.module
        if missing is not None and (
            missing.group(1) == name or name.startswith(f"{missing.group(1)}.")
        ):
            status = "missing"
        else:
            status = "fails"
    advice = result.advice
    if status == "refuses":
        advice += _blocker_origin(result.error or "")
    return Finding(target.module, status, target.distribution, version, result.error, advice)


_REFUSED = re.compile(r"module (\S+) does not support loading in subinterpreters")


def _blocker_origin(error: str) -> str:
    """Where the extension that refused comes from, as words to add to the advice
    (``""`` if unknown)."""
    refused = _REFUSED.search(error)
    if refused is None:
        return ""
    blocker = refused.group(1)
    dists = metadata.packages_distributions().get(blocker.partition(".")[0], [])
    if not dists:
        return ""
    try:
        version = metadata.version(dists[0])
    except metadata.PackageNotFoundError:
        return ""
    return f" ({blocker} comes from {dists[0]} {version}, installed)"


# -- command line ----------------------------------------------------------------------


def main(
    names: Sequence[str] = (),
    *,
    requirements: Sequence[str] = (),
    everything: bool = False,
    json_out: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int | None = None,
    out: TextIO | None = None,
    exit_on_timeout: bool = False,
) -> int:
    """Run the doctor and print its report to ``out`` (default ``sys.stdout``);
    return the exit status: 0 if every module is ``ok``, 1 if not, 2 if there was
    nothing to check or a name or file was bad (said on ``sys.stderr``).

    With ``exit_on_timeout`` (the command line), a timed-out import makes the process
    exit at once with that status (``os._exit``, after flushing), rather than wait at
    exit for an import that may never end."""
    out = sys.stdout if out is None else out
    report = Report()
    try:
        targets = named_targets(names, report.notes)
        for path in requirements:
            targets += requirement_targets(path, report.notes)
        if everything:
            targets += installed_targets(report.notes)
    except (OSError, ValueError) as exc:
        print(f"interpool doctor: {exc}", file=sys.stderr)
        return 2
    if not targets and not requirements:
        print(
            "interpool doctor: name modules to check, or give -r REQUIREMENTS or --all",
            file=sys.stderr,
        )
        return 2
    report.findings = diagnose(_unique(targets), timeout=timeout, jobs=jobs)
    if json_out:
        json.dump(report.to_json(), out, indent=2)
        out.write("\n")
    else:
        out.write(report.render())
    out.flush()
    status = 0 if report.ok else 1
    if exit_on_timeout and report.counts()["timeout"]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status
