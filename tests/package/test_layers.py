"""The package's layers (issue 17): a module imports only from its own layer or lower ones, and the
import graph of the package's modules has no cycle. Imports are read with `ast` from the source, so
function-level imports, lazy tables and module names in strings count as much as module-level ones.
What the checks let through until the package is restructured is in KNOWN, each with its reason."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"eventlog": REPO / "eventlog", "eventlog.sinks": REPO / "sinks", "eventlog.server": REPO / "server",
         "eventlog.cli": REPO / "cli"}  # setup.cfg's package_dir

# The layers, lowest first: (name, module-name prefixes). A module is in the layer of the longest
# prefix that matches its name (the module of that name and its submodules), so a module moves to
# another layer by adding its name there. FACADE matches only itself (everything is under it).
LAYERS: List[Tuple[str, List[str]]] = [
    ("base", ["eventlog.errors", "eventlog.names", "eventlog.util", "eventlog.protocol"]),
    # the records vocabulary and its fold (with the metric definitions it folds by): what every reader shares
    ("engine", ["eventlog.logfile", "eventlog.rundir", "eventlog.records", "eventlog.metricdefs"]),
    ("run parts", ["eventlog.client.credentials", "eventlog.client.accounts", "eventlog.capture",
                   "eventlog.terminal", "eventlog.media.base", "eventlog.runapi.mapping",
                   "eventlog.attach.wire", "eventlog.compat.settings",
                   "eventlog.runapi.state"]),  # the registry of runs: runops and artifacts look up the current run
    ("values", ["eventlog.values", "eventlog.runapi.config", "eventlog.runapi.summary"]),
    ("media", ["eventlog.media", "eventlog.interop.tfevents"]),  # a Table's cells are values
    # what init() switches on: each takes the run as an argument, none imports the run API
    ("run integrations", ["eventlog.integrations"]),
    ("run API", ["eventlog.runapi", "eventlog.runops", "eventlog.attach", "eventlog.artifacts"]),
    ("on the run API", ["eventlog.client", "eventlog.compat"]),
    # `import eventlog` and its wandb alias (the same names under another module name)
    ("facade", ["eventlog", "eventlog.compat.wandb"]),
    ("importers", ["eventlog.interop"]),  # `evlog import`: other trackers' runs written as evlog runs
    ("sinks", ["eventlog.sinks"]),
    ("server", ["eventlog.server"]),
    ("dashboard", ["eventlog.server.web"]),
    # what ties the API and the dashboard together: the app, and DELETE {run} (a key or a session)
    ("server app", ["eventlog.server.app", "eventlog.server.deletion"]),
    ("cli", ["eventlog.cli"]),
]

# eventlog/__init__.py is the public facade: it may import anything (lazily, through its _LAZY
# tables), so its own imports are exempt from the layer check; who imports it is checked, and its
# imports are in the cycle check.
FACADE = "eventlog"

# Imports the checks let through, each with why it is there until the package is restructured.
# (importer, imported): reason. An entry that no longer matches an import fails the test.
KNOWN: Dict[Tuple[str, str], str] = {
    # the engine and run API name the sinks once: the run starts its syncer as a process by module
    # name, so no sinks code runs in the run's process (a console_scripts-style entry point for the
    # syncer would take the name out of eventlog/)
    ("eventlog.runapi.syncproc", "eventlog.sinks.syncer"): "`python -m eventlog.sinks.syncer`: the run's syncer process",
    # unpickling a disabled Run calls init()'s _start, which makes a Run, which inherits runops' mixins
    ("eventlog.runops.attach", "eventlog.runapi.start"): "unpickling a disabled Run starts one with runapi's _start",
    # a Run mixin reaching the attach channel, whose two sides are built on the Run itself: AttachedRun
    # subclasses Run, and the owner's server forwards the methods of runops' mixins (attach/methods.py)
    ("eventlog.runops.attach", "eventlog.attach.client"): "run._attach(): an AttachedRun, a Run subclass",
    ("eventlog.attach.methods", "eventlog.runops"): "the forwarded methods are read off runops' mixins",
    # a name, not an import: HttpSink.enabled() (which gets no SinkContext.live) asks whether __main__
    # is the live syncer, closing registry -> http -> syncer -> registry; a live flag for enabled() ends it
    ("eventlog.sinks.http", "eventlog.sinks.syncer"): "_in_live_syncer(): __main__'s name compared",
}

# The data flow (run -> log -> syncer -> sinks -> server -> dashboard), checked on its own whatever
# LAYERS says: (part, the parts it never imports), a part being one of ROOTS.
FORBIDDEN = [
    ("eventlog", ("eventlog.sinks", "eventlog.server", "eventlog.cli")),  # the engine and run API
    ("eventlog.sinks", ("eventlog.server", "eventlog.cli")),
    ("eventlog.server", ("eventlog.cli",)),
]

NAME_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    file: Path
    line: int
    typing_only: bool = False  # under `if TYPE_CHECKING:`: annotations only, never executed

    def where(self) -> str:
        file = self.file.relative_to(REPO) if REPO in self.file.parents else self.file
        return f"{file}:{self.line}"


def package_modules() -> Dict[str, Path]:
    """Every module of the package: its dotted name -> its file."""
    out = {}
    for package, root in ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((package,) + parts)] = path
    return out


MODULES = package_modules()


def _known_module(name: str) -> Optional[str]:
    """`name` or its longest prefix that is a module of the package (importing `a.b.c` where `c` is
    a function imports `a.b`)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _resolve(module: str, is_package: bool, level: int, name: str) -> str:
    """A relative module name (`level` leading dots) seen in `module`, as an absolute one."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _docstrings(tree: ast.AST) -> Set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _typing_only(tree: ast.AST) -> Set[int]:
    """The ids of the nodes under `if TYPE_CHECKING:`."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            for stmt in node.body:
                out.update(id(n) for n in ast.walk(stmt))
    return out


def _builds_submodule_names(tree: ast.AST) -> bool:
    """True when the module imports `f"{__name__}.{x}"`: its bare names of submodules are imports."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and len(node.values) >= 2:
            first, second = node.values[0], node.values[1]
            if (isinstance(first, ast.FormattedValue) and getattr(first.value, "id", None) == "__name__"
                    and isinstance(second, ast.Constant) and str(second.value).startswith(".")):
                return True
    return False


def _string_targets(module: str, is_package: bool, tree: ast.AST) -> Iterator[Tuple[ast.Constant, str]]:
    """Module names in the module's string literals: an absolute name of a package module (or
    `module:attr`, as entry points and `-m` arguments give them), a relative `.x` in a lazy table (a
    dict literal) or in `import_module()`, a bare submodule name of a package that imports
    `f"{__name__}.{x}"` (eventlog/runops' PARTS), and the imports of code run with `python -c`."""
    docs = _docstrings(tree)
    tables: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            tables.update(id(n) for n in node.keys + node.values if n is not None)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
                "import_module", "__import__") and node.args:
            tables.add(id(node.args[0]))
    bare = is_package and _builds_submodule_names(tree)
    names_only = set()  # `__all__` lists names; `__module__ = "..."` is a class's public module, not an import
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) in ("__all__", "__module__")
                                                for t in node.targets):
            names_only.update(id(n) for n in ast.walk(node.value))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in docs | names_only:
            continue
        text = node.value
        name = text.split(":", 1)[0] if text.count(":") == 1 else text
        if NAME_RE.fullmatch(name) and name.startswith("eventlog") and _known_module(name) == name:
            yield node, name
        elif text.startswith(".") and id(node) in tables:
            level = len(text) - len(text.lstrip("."))
            target = _resolve(module, is_package, level, text[level:])
            if target in MODULES:
                yield node, target
        elif bare and NAME_RE.fullmatch(text) and f"{module}.{text}" in MODULES:
            yield node, f"{module}.{text}"
        elif "import " in text and "eventlog" in text:
            try:
                code = ast.parse(text)
            except SyntaxError:
                continue
            for sub in ast.walk(code):
                names = ([a.name for a in sub.names] if isinstance(sub, ast.Import)
                         else [sub.module] if isinstance(sub, ast.ImportFrom) and sub.module and not sub.level
                         else [])
                for n in names:
                    target = _known_module(n)
                    if target is not None:
                        yield node, target


def imports_of(module: str, path: Path) -> List[Import]:
    """Every import of a package module by `module`, wherever it is in the file."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    typing_only = _typing_only(tree)
    found: List[Tuple[str, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module or "") if node.level else node.module
            for a in node.names:  # `from pkg import submodule` imports the submodule
                found.append((f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base, node))
    found += [(name, node) for node, name in _string_targets(module, is_package, tree)]
    out = []
    for name, node in found:
        target = _known_module(name)
        if target is not None and target != module:
            out.append(Import(module, target, path, node.lineno, id(node) in typing_only))
    return out


ALL_IMPORTS = [imp for module, path in MODULES.items() for imp in imports_of(module, path)]


def layer_of(module: str) -> int:
    """The index in LAYERS of the layer of `module`, -1 when none."""
    best, layer = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or (p != FACADE and module.startswith(p + "."))) and len(p) > best:
                best, layer = len(p), i
    return layer


def _in(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _part(module: str) -> str:
    """Which of ROOTS a module belongs to (eventlog/, sinks/, server/ or cli/)."""
    return max((p for p in ROOTS if _in(module, p)), key=len)


def _show(imp: Import) -> str:
    return (f"{imp.where()}: {imp.importer} ({LAYERS[layer_of(imp.importer)][0]}) -> "
            f"{imp.imported} ({LAYERS[layer_of(imp.imported)][0]})")


def upward(imports: List[Import]) -> List[str]:
    """The imports of a higher layer (the facade's own and KNOWN ones let through), shown."""
    return [_show(i) for i in imports
            if i.importer != FACADE and (i.importer, i.imported) not in KNOWN
            and layer_of(i.imported) > layer_of(i.importer)]


def against_the_flow(imports: List[Import], lower: str, higher: Tuple[str, ...]) -> List[str]:
    """The imports by modules of part `lower` of modules of the parts `higher` (KNOWN let through)."""
    return [_show(i) for i in imports
            if _part(i.importer) == lower and _part(i.imported) in higher and (i.importer, i.imported) not in KNOWN]


def find_cycle(edges: Dict[str, Set[str]]) -> Optional[List[str]]:
    """A cycle of the graph as [a, b, ..., a], or None (iterative depth-first search)."""
    state: Dict[str, int] = {}  # 1 on the current path, 2 done
    for root in sorted(edges):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(edges.get(root, ())))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(edges.get(nxt, ()))))
    return None


def cycle_of(imports: List[Import]) -> Optional[str]:
    """An import cycle (imports run at some point; annotation-only and KNOWN ones left out), shown
    edge by edge, or None."""
    edges: Dict[str, Set[str]] = {}
    where: Dict[Tuple[str, str], str] = {}
    for i in imports:
        if not i.typing_only and (i.importer, i.imported) not in KNOWN:
            edges.setdefault(i.importer, set()).add(i.imported)
            where.setdefault((i.importer, i.imported), i.where())
    cycle = find_cycle(edges)
    if cycle is None:
        return None
    return "\n".join(f"{where[a, b]}: {a} -> {b}" for a, b in zip(cycle, cycle[1:]))


# ------------------------------------------------------------------ the collector itself
PROBE = '''"""Mentions eventlog.server.app and `from eventlog.cli import main`: a docstring, no import."""
import importlib
from typing import TYPE_CHECKING

from . import base
from .state import CURSOR_SUFFIX

if TYPE_CHECKING:
    from eventlog.logfile.reader import LogReader

__all__ = ["eventlog.rundir.export"]
LAZY = {"Sink": ".jsonl", "ext": ".json"}
SUFFIX = ".stdout"
CMD = ["-m", "eventlog.runapi.syncproc"]
ENTRY = "eventlog.server.app:create_app"
BOOT = "import sys; from eventlog.cli import main; sys.exit(main())"
MESSAGE = "see eventlog.Run for more"


def f():
    from eventlog.client import accounts as api
    import eventlog.logfile.segment
    return importlib.import_module(".http", __package__)


class C:
    __module__ = "eventlog.media"
'''


def test_imports_are_read_from_every_form_and_only_those(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text(PROBE)
    got = sorted((i.line, i.imported, i.typing_only) for i in imports_of("eventlog.sinks.probe", path))
    assert got == [
        (5, "eventlog.sinks.base", False),      # from . import submodule
        (6, "eventlog.sinks.state", False),     # from .module import name
        (9, "eventlog.logfile.reader", True),   # annotations only
        (12, "eventlog.sinks.jsonl", False),    # a relative name in a lazy table (".json" names none)
        (14, "eventlog.runapi.syncproc", False),       # `-m` argument
        (15, "eventlog.server.app", False),     # module:attr
        (16, "eventlog.cli", False),            # code run with python -c
        (21, "eventlog.client.accounts", False),  # function level, `from package import submodule`
        (22, "eventlog.logfile.segment", False),
        (23, "eventlog.sinks.http", False),     # import_module(".x", __package__)
    ]


def test_bare_submodule_names_count_in_a_package_that_builds_them(tmp_path):
    init = tmp_path / "__init__.py"
    init.write_text('PARTS = {"metrics": 1}\nMORE = ("watch", "nothing")\n__all__ = ["code"]\n'
                    'def load(m):\n    return f"{__name__}.{m}"\n')
    assert {i.imported for i in imports_of("eventlog.runops", init)} == {"eventlog.runops.metrics",
                                                                          "eventlog.runops.watch"}
    init.write_text('PARTS = {"metrics": 1}\n')  # names only, never made into module names
    assert imports_of("eventlog.runops", init) == []


def test_the_checks_name_what_breaks_them():
    def imp(importer, imported, typing_only=False):
        return Import(importer, imported, MODULES[importer], 7, typing_only)

    seg = str(MODULES["eventlog.logfile.segment"].relative_to(REPO))
    assert upward([imp("eventlog.logfile.segment", "eventlog.runapi")]) == [
        f"{seg}:7: eventlog.logfile.segment (engine) -> eventlog.runapi (run API)"]
    assert upward([imp("eventlog.runapi", "eventlog.logfile.segment"),
                   imp("eventlog", "eventlog.sinks.base")]) == []
    assert upward([imp(*next(iter(KNOWN)))]) == []
    assert against_the_flow([imp("eventlog.sinks.base", "eventlog.server.app")], "eventlog.sinks",
                            ("eventlog.server",)) != []
    assert against_the_flow([imp("eventlog.server.app", "eventlog.sinks.base")], "eventlog.sinks",
                            ("eventlog.server",)) == []
    reader = MODULES["eventlog.logfile.reader"].relative_to(REPO)
    assert cycle_of([imp("eventlog.logfile.segment", "eventlog.logfile.reader"),
                     imp("eventlog.logfile.reader", "eventlog.logfile.segment")]) == (
        f"{reader}:7: eventlog.logfile.reader -> eventlog.logfile.segment\n"
        f"{seg}:7: eventlog.logfile.segment -> eventlog.logfile.reader")
    assert cycle_of([imp("eventlog.logfile.segment", "eventlog.logfile.reader"),
                     imp("eventlog.logfile.reader", "eventlog.logfile.segment", typing_only=True)]) is None


def test_find_cycle_finds_cycles_and_only_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]


def test_the_package_s_lazy_forms_are_seen():
    def targets(importer):
        return {i.imported for i in ALL_IMPORTS if i.importer == importer}

    assert {"eventlog.sinks.syncer", "eventlog.server.app", "eventlog.cli.main"} <= set(MODULES)
    assert "eventlog.media.audio" in targets("eventlog.media")              # _OWN_MODULES
    assert "eventlog.runops.metrics" in targets("eventlog.runops")          # PARTS
    assert "eventlog.compat.wandb.sdk" in targets("eventlog.compat.wandb")  # _SUBMODULES
    assert "eventlog.client.readapi" in targets("eventlog")                 # the facade's lazy names
    assert "eventlog.sinks.syncer" in targets("eventlog.runapi.syncproc")          # SYNCER_MODULE


def test_every_module_is_in_a_layer():
    assert [m for m in MODULES if layer_of(m) < 0] == []
    assert LAYERS[layer_of("eventlog.logfile.segment")][0] == "engine"
    assert LAYERS[layer_of("eventlog.server.web.data")][0] == "dashboard"  # the longest prefix wins


def test_known_entries_are_still_imports():
    seen = {(i.importer, i.imported) for i in ALL_IMPORTS}
    assert [k for k in KNOWN if k not in seen] == [], "KNOWN entries that are fixed: remove them"


# ------------------------------------------------------------------ the rules
def test_no_module_imports_a_higher_layer():
    bad = upward(ALL_IMPORTS)
    assert bad == [], "imports of a higher layer:\n" + "\n".join(bad)


@pytest.mark.parametrize("lower, higher", FORBIDDEN, ids=[lower for lower, _ in FORBIDDEN])
def test_the_data_flow_is_one_way(lower, higher):
    bad = against_the_flow(ALL_IMPORTS, lower, higher)
    assert bad == [], f"{lower} imports {', '.join(higher)}:\n" + "\n".join(bad)


def test_no_import_cycle():
    cycle = cycle_of(ALL_IMPORTS)
    assert cycle is None, "import cycle:\n" + cycle
