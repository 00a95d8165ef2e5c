"""The patch engine: load specs, plan every edit (exactly one match or refuse), render.

A plan is computed in memory from the install's files and never writes anything; writing,
backups, the manifest and rollback build on it. Each edit is matched structurally with
ast-grep in the one file that plays its role, and must match exactly once: no match or
several matches refuse the whole plan, naming the edit and the file. Inserted JavaScript
starts with a marker comment (`// openclaw-patcher <spec>/<edit>`), which is how an
applied edit is recognised: a file with every marker of a spec is applied, with some of
them is refused as drifted.
"""

from __future__ import annotations

import difflib
import json
import posixpath
import re
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from patcher.detection.roles import (
    MARKER_PREFIX,
    BundleMap,
    ShapeError,
    export_name,
    locate_definitions,
)
from patcher.errors import RefusedError, UsageError
from patcher.files.reading import NotReadable, read_regular
from patcher.files.validation import problems
from patcher.versions import parse_version

SPECS_PACKAGE = "patcher.repair.specs"


class PlanRefused(RefusedError):
    """An edit matched no place, several places, or a file is half patched."""


@dataclass(frozen=True)
class Edit:
    spec: str
    id: str
    role: str
    kind: str
    why: str
    function: str | None = None
    # Other names the same function has had in other releases, tried after `function`
    # (whichever one the chunk defines is the target); the snippet is written with `function`.
    aliases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    text: str = ""
    rename_to: str | None = None
    import_name: str | None = None
    import_aliases: tuple[str, ...] = ()
    alias: str | None = None
    stores: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    # Left out where the target function already calls this (the release does it itself).
    skip_if_calls: str | None = None

    def applies_to(self, store: str | None) -> bool:
        """Whether this edit is for the install's store shape."""
        return not self.stores or store in self.stores

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the target function may have, the spec's own first."""
        return (self.function, *self.aliases) if self.function else ()

    @property
    def marker(self) -> str:
        return f"{MARKER_PREFIX}{self.spec}/{self.id}"


@dataclass(frozen=True)
class Spec:
    id: str
    title: str
    issue: str
    families: tuple[str, ...]
    versions: SpecifierSet
    stores: tuple[str, ...]
    edits: tuple[Edit, ...]
    persists_active_ids: bool = False

    def applies_to(self, family: str | None, store: str | None) -> bool:
        """Whether the spec is for this code shape (family and store, read off the code)."""
        return family in self.families and (not self.stores or store in self.stores)

    def in_range(self, version: str) -> bool:
        """Whether `version` lies in the releases the spec was written for (a cross-check:
        it decides nothing; pre-releases sort before their release, as npm sorts them)."""
        parsed = parse_version(version)
        return parsed is not None and self.versions.contains(parsed, prereleases=True)


def _specifier(text: str, folder) -> SpecifierSet:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier as exc:
        raise UsageError(f"patch spec {folder.name}: bad version specifier: {exc}") from exc


PATCHER_PREFIX = "__patcher_"
SHARED = "shared/"  # snippets two specs insert alike live in specs/shared/


def _snippet(folder, names: str | list[str], marker: str) -> str:
    """The JavaScript an edit inserts (one file, or several joined in order), led by its
    marker line at the indentation of its first line: how the edit is recognised."""
    parts = [names] if isinstance(names, str) else names
    body = "".join(
        (files(SPECS_PACKAGE) / n if n.startswith(SHARED) else folder / n).read_text("utf-8")
        for n in parts
    )
    name = ", ".join(parts)
    if body.lstrip(" \t").startswith(MARKER_PREFIX):
        raise UsageError(
            f"patch spec {folder.name}: {name} starts with a marker line; the engine adds "
            "it: remove it."
        )
    indent = body[: len(body) - len(body.lstrip(" \t"))]
    return f"{indent}{marker}\n{body}"


def _names(value: str | list[str] | None) -> tuple[str, ...]:
    """A spec names a function (or an import) by one name or by the names it has had."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _load_spec(folder) -> Spec:
    raw = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
    found = problems(raw, "patch-spec.schema.json")
    if found:
        first = found[0]
        raise UsageError(f"patch spec {folder.name}: {first.pointer or '/'}: {first.message}")
    versions = _specifier(raw["applies_to"]["versions"], folder)
    edits = []
    for entry in raw["edits"]:
        marker = f"{MARKER_PREFIX}{raw['id']}/{entry['id']}"
        text = _snippet(folder, entry["insert"], marker) if "insert" in entry else ""
        functions = _names(entry.get("function"))
        imports = _names(entry.get("import"))
        edit = Edit(
            spec=raw["id"],
            id=entry["id"],
            role=entry["role"],
            kind=entry["kind"],
            why=entry["why"],
            function=functions[0] if functions else None,
            aliases=functions[1:],
            patterns=tuple(
                [entry["pattern"]]
                if isinstance(entry.get("pattern"), str)
                else entry.get("pattern", [])
            ),
            text=text,
            # Every name the repair adds is the original's with the prefix: derived (for a
            # wrapped function, from the name found, see _as_found), not written by hand.
            rename_to=entry.get("rename_to"),
            import_name=imports[0] if imports else None,
            import_aliases=imports[1:],
            alias=entry.get("as")
            or (f"{PATCHER_PREFIX}{imports[0]}" if entry["kind"] == "add-import" else None),
            stores=tuple(entry.get("stores", ())),
            uses=tuple(entry.get("uses", ())),
            skip_if_calls=entry.get("skip_if_calls"),
        )
        edits.append(edit)
    return Spec(
        raw["id"],
        raw["title"],
        raw["issue"],
        tuple(raw["applies_to"]["families"]),
        versions,
        tuple(raw["applies_to"].get("stores", ())),
        tuple(edits),
        raw.get("persists_active_ids", False),
    )


@cache
def load_specs() -> tuple[Spec, ...]:
    """Every spec under patcher/repair/specs/, validated against schemas/patch-spec.schema.json."""
    folders = [f for f in files(SPECS_PACKAGE).iterdir() if (f / "spec.json").is_file()]
    return tuple(_load_spec(f) for f in sorted(folders, key=lambda f: f.name))


def specs_for(family: str | None, store: str | None) -> list[Spec]:
    """The specs for the install's code shape. The version does not choose them: a build
    no spec names (a beta, a re-publish) whose code a spec matches gets that spec, and
    `range_notes` says so."""
    return [s for s in load_specs() if s.applies_to(family, store)]


def range_notes(specs: list[Spec], version: str) -> list[str]:
    """A note per spec whose version range does not hold `version` although its code
    shape matched: the code decided, the version only cross-checks."""
    return [
        f"{version} is not in the releases spec {s.id} was written for ({s.versions}); its "
        "code matches the spec's shape, so the spec applies, and the plan and the simulation "
        "judge it"
        for s in specs
        if not s.in_range(version)
    ]


@dataclass
class FilePlan:
    """The edits planned for one file: its original text and the patched text."""

    path: Path
    role: str
    original: str
    patched: str
    edits: list[str] = field(default_factory=list)

    def diff(self, root: Path) -> str:
        rel = self.path.relative_to(root).as_posix()
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                self.patched.splitlines(keepends=True),
                fromfile=f"a/{rel}",
                tofile=f"b/{rel}",
                n=2,
            )
        )


@dataclass
class Plan:
    """Every file a spec set changes; `applied` when the install already carries them."""

    specs: list[Spec]
    files: list[FilePlan]
    applied: bool = False

    def diff(self, root: Path) -> str:
        return "".join(f.diff(root) for f in self.files)

    @property
    def persists_active_ids(self) -> bool:
        """Whether the repaired code keeps activeJobIds in the store."""
        return any(s.persists_active_ids for s in self.specs)


@lru_cache(maxsize=4)
def _root(text: str):
    # Every edit of a file is matched on its original text: parse it once.
    from ast_grep_py import SgRoot

    return SgRoot(text, "javascript").root()


def _the_one(nodes: list, edit: Edit, path: Path, what: str):
    if len(nodes) != 1:
        found = "no place" if not nodes else f"{len(nodes)} places"
        raise PlanRefused(
            f"edit {edit.spec}/{edit.id} matched {found} in {path} ({what}); it must match "
            "exactly once: this release's code shape is not supported."
        )
    return nodes[0]


def _function_node(root, edit: Edit, path: Path):
    names = "|".join(re.escape(n) for n in edit.names)
    nodes = root.find_all(
        kind="function_declaration", has={"field": "name", "regex": f"^({names})$"}
    )
    # Only top-level declarations of the chunk: nested helpers with the same name do not count.
    nodes = [n for n in nodes if n.parent() is not None and n.parent().kind() == "program"]
    return _the_one(nodes, edit, path, "function " + " or ".join(edit.names))


def _as_found(edit: Edit, text: str, path: Path) -> Edit:
    """The edit for the name its function has in this chunk. A spec's snippet is written with
    the spec's first name; where the chunk defines another of the names (the same function,
    renamed between releases), the snippet's uses of the first name, plain or with the
    prefix, become that name. A wrapped function is renamed to the prefix and its name."""
    if not edit.function or edit.kind == "add-import":
        return edit
    found = _function_node(_root(text), edit, path).field("name").text()
    rename_to = edit.rename_to
    if edit.kind == "wrap-function" and rename_to is None:
        rename_to = f"{PATCHER_PREFIX}{found}"
    body = edit.text
    if found != edit.function:
        pattern = rf"(?<![\w$])({re.escape(PATCHER_PREFIX)})?{re.escape(edit.function)}(?![\w$])"
        body = re.sub(pattern, lambda m: (m.group(1) or "") + found, body)
    return replace(edit, function=found, aliases=(), text=body, rename_to=rename_to)


def _already_calls(path: Path, edit: Edit) -> bool:
    """Whether the function the edit targets already calls `edit.skip_if_calls` itself:
    the code, not the version, says the edit is not needed (2026.6.8+ catch-up runs mark
    their job active)."""
    try:
        text = read_regular(path).decode("utf-8")
    except (OSError, NotReadable, UnicodeDecodeError) as exc:
        raise PlanRefused(f"{path} cannot be read as text ({exc}): reinstall the release.") from exc
    function = _function_node(_root(text), edit, path)
    # A plain call or a method call (`runtime.isCronRuntimeAuthoritative()`).
    name = re.escape(edit.skip_if_calls or "")
    call = function.find(
        kind="call_expression",
        has={"field": "function", "regex": rf"(^|\.){name}$"},
    )
    return call is not None


_SAFE_SPECIFIER = re.compile(r"^\.\.?/[\w.@$+/-]+$")
_SAFE_NAME = re.compile(r"^[A-Za-z_$][\w$]*$")
_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"(\.[^"]+)";', re.M)
_IMPORT_ANY = re.compile(r'^import\s+([^"\';]+?)\s+from\s*["\'][^"\']+["\'];', re.M)


def _import_source(edit: Edit, text: str, path: Path, dist: Path) -> tuple[str, str]:
    """(module specifier, exported name) to import the edit's name (or one of the names the
    binding has had) into the chunk at `path`: the module the chunk already imports it from,
    else the chunk that defines it."""
    names = (edit.import_name, *edit.import_aliases)
    for match in _IMPORT.finditer(text):
        for part in match.group(1).split(","):
            exported, _, local = part.strip().partition(" as ")
            if (local or exported).strip() in names:
                return match.group(2), exported.strip()
    if len(names) == 1:
        name, target = names[0], locate_definitions(dist, names)[names[0]]
    else:
        found = locate_definitions(dist, [], optional=names)
        if len(found) != 1:
            where = ", ".join(f"{n} in {p.name}" for n, p in found.items()) or "none of them"
            raise PlanRefused(
                f"edit {edit.spec}/{edit.id} imports one of {', '.join(names)} and found "
                f"{where}: this release's code shape is not supported."
            )
        ((name, target),) = found.items()
    rel = posixpath.relpath(
        target.relative_to(dist).as_posix(), path.parent.relative_to(dist).as_posix()
    )
    specifier = rel if rel.startswith(".") else f"./{rel}"
    exported = export_name(target, name)
    # File names come from the install: never let one carry code into the import line.
    if not _SAFE_SPECIFIER.match(specifier) or not _SAFE_NAME.match(exported):
        raise PlanRefused(f"{target} has a name that cannot be imported safely: refusing.")
    return specifier, exported


def _insertion(edit: Edit, text: str, path: Path, dist: Path) -> tuple[int, int, str]:
    """(start, end, replacement) in `text` for one edit, as character offsets."""
    if edit.kind == "add-import":
        spec, exported = _import_source(edit, text, path, dist)
        line = f'import {{ {exported} as {edit.alias} }} from "{spec}"; {edit.marker}\n'
        # After the chunk's own imports: at the start of its first line that is not one.
        offset = 0
        for line_text in text.splitlines(keepends=True):
            if not line_text.startswith("import "):
                break
            offset += len(line_text)
        return offset, offset, line
    root = _root(text)
    fn = _function_node(root, edit, path)
    if edit.kind == "insert-before-function":
        start = fn.range().start.index
        return start, start, edit.text
    if edit.kind == "insert-at-body-start":
        body = fn.field("body")
        at = body.range().start.index + 1  # after "{"
        if text.startswith("\n", at):
            at += 1
        return at, at, edit.text
    if edit.kind == "wrap-function":
        name = fn.field("name")
        start, end = name.range().start.index, name.range().end.index
        return start, end, edit.rename_to or ""
    matches = [node for pattern in edit.patterns for node in fn.find_all(pattern=pattern)]
    wanted = " or ".join(f"`{p}`" for p in edit.patterns)
    statement = _the_one(matches, edit, path, f"{wanted} in {edit.function}")
    line_start = text.rfind("\n", 0, statement.range().start.index) + 1
    if edit.kind == "insert-before-statement":
        return line_start, line_start, edit.text
    end = statement.range().end.index
    line_end = text.find("\n", end)
    at = len(text) if line_end < 0 else line_end + 1
    return at, at, edit.text


def _top_level_names(text: str) -> set[str]:
    """Names bound at the top level of a chunk: its imports' locals and its declarations."""
    names = set()
    for match in _IMPORT_ANY.finditer(text):
        clause = match.group(1)
        default, _, braced = clause.partition("{")
        if default.strip().rstrip(",").strip():
            names.add(default.strip().rstrip(",").strip().removeprefix("* as ").strip())
        for part in braced.rstrip("}").split(","):
            exported, _, local = part.strip().partition(" as ")
            if (local or exported).strip():
                names.add((local or exported).strip())
    for node in _root(text).children():
        if node.kind() in ("function_declaration", "class_declaration"):
            names.add(node.field("name").text())
        elif node.kind() in ("lexical_declaration", "variable_declaration"):
            for declarator in node.find_all(kind="variable_declarator"):
                if declarator.parent() == node:
                    names.add(declarator.field("name").text())
    return names


def _check_uses(edit: Edit, text: str, path: Path) -> None:
    """Inserted code may use the chunk's own bindings by name (rolldown keeps local names):
    refuse when one it needs is not bound at the chunk's top level."""
    missing = [name for name in edit.uses if name not in _top_level_names(text)]
    if missing:
        raise PlanRefused(
            f"edit {edit.spec}/{edit.id} uses {', '.join(missing)}, which {path} does not "
            "bind: this release's code shape is not supported."
        )


def parse_errors(text: str) -> int:
    """How many ERROR nodes tree-sitter finds in `text` (some chunks have a few already)."""
    return len(_root(text).find_all(kind="ERROR"))


def plan_file(path: Path, role: str, edits: list[Edit], dist: Path) -> FilePlan:
    """Apply `edits` to the text of `path` in memory, each matched on the original text."""
    try:
        original = read_regular(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanRefused(f"{path} is not UTF-8 text: refusing to edit it.") from exc
    except NotReadable as exc:
        raise PlanRefused(str(exc)) from exc
    present = [e for e in edits if e.marker in original]
    if present and len(present) != len(edits):
        raise PlanRefused(
            f"{path} carries some of the patch's edits but not all "
            f"({', '.join(e.id for e in present)}): it changed since it was patched; "
            "run rollback or reinstall the release."
        )
    if present:
        return FilePlan(path, role, original, original, [e.id for e in edits])
    changes = []
    for edit in edits:
        edit = _as_found(edit, original, path)
        _check_uses(edit, original, path)
        start, end, replacement = _insertion(edit, original, path, dist)
        if edit.kind == "wrap-function":
            # The wrapper goes before the function, which is renamed in place.
            fn_start = _function_node(_root(original), edit, path).range().start.index
            changes.append((fn_start, fn_start, len(changes), edit.text))
        changes.append((start, end, len(changes), replacement))
    # Apply from the end so earlier offsets stay valid; at one offset, spec order is kept.
    patched = original
    for start, end, _, replacement in sorted(changes, reverse=True):
        patched = patched[:start] + replacement + patched[end:]
    return FilePlan(path, role, original, patched, [e.id for e in edits])


DEFINING_CHUNK = "defining-chunk"


def _edit_file(edit: Edit, bundle_map: BundleMap, dist: Path) -> Path:
    """The file an edit is made in: its role's one primary chunk, or for `defining-chunk`
    the one chunk that defines its function (code outside the four roles, such as the task
    ledger's recovery lookup)."""
    if edit.role == DEFINING_CHUNK:
        try:
            found = locate_definitions(dist, [], optional=edit.names)
        except ShapeError as exc:
            raise PlanRefused(str(exc)) from exc
        if len(set(found.values())) != 1:
            where = ", ".join(f"{n} in {p.name}" for n, p in found.items()) or "no chunk"
            raise PlanRefused(
                f"edit {edit.spec}/{edit.id} needs the one chunk that defines "
                f"{' or '.join(edit.names)}, found {where}: this release's code shape is "
                "not supported."
            )
        return next(iter(found.values()))
    primaries = bundle_map.primaries(edit.role)
    if len(primaries) != 1:
        raise PlanRefused(
            f"edit {edit.spec}/{edit.id} needs exactly one {edit.role} file, "
            f"found {len(primaries)}: this release's code shape is not supported."
        )
    return primaries[0].path


def plan(install_root: Path, bundle_map: BundleMap, specs: list[Spec], store: str | None) -> Plan:
    """Plan every edit of `specs` on the install; refuses (PlanRefused) rather than guess.

    `store` is the install's: edits for other store shapes are left out."""
    dist = install_root / "dist"
    by_file: dict[Path, tuple[str, list[Edit]]] = {}
    for spec in specs:
        for edit in spec.edits:
            if not edit.applies_to(store):
                continue
            path = _edit_file(edit, bundle_map, dist)
            if edit.skip_if_calls and _already_calls(path, edit):
                continue
            by_file.setdefault(path, (edit.role, []))[1].append(edit)
    try:
        file_plans = [
            plan_file(p, role, edits, dist) for p, (role, edits) in sorted(by_file.items())
        ]
    except ShapeError as exc:
        raise PlanRefused(str(exc)) from exc
    applied = bool(file_plans) and all(f.original == f.patched for f in file_plans)
    partial = not applied and any(f.original == f.patched for f in file_plans)
    if partial:
        done = [f.path.name for f in file_plans if f.original == f.patched]
        raise PlanRefused(
            f"the patch is only partly applied (done in {', '.join(done)}): "
            "run rollback or reinstall the release."
        )
    return Plan(specs, file_plans, applied)


def describe(spec: Spec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "title": spec.title,
        "issue": spec.issue,
        "edits": [e.id for e in spec.edits],
    }
