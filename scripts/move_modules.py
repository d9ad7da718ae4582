"""Move modules of the package and rewrite every reference to them (a tool for issue 17's layering).

    python scripts/move_modules.py --move   old.module=new.module ...   # git mv only
    python scripts/move_modules.py --rewrite old.module=new.module ...  # imports and references

`--move` renames the files with `git mv` (and adds the new packages' `__init__.py`), so a commit of
it is renames only and history follows them; `--rewrite`, run after, fixes what names them: absolute
and relative imports (module and function level, resolved with `ast`), dotted names in code and
strings (`"eventlog.runapi.syncproc"`, patch targets), relative names in the lazy tables of
`eventlog/__init__.py` and `eventlog/runops/__init__.py`, and `eventlog/x.py` paths in docs.
"""
from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# repo folders and the package they are installed as (setup.cfg package_dir)
PACKAGES = {"eventlog": "eventlog", "sinks": "eventlog.sinks", "server": "eventlog.server", "cli": "eventlog.cli"}
SCAN = ["eventlog", "sinks", "server", "cli", "tests", "bench", "examples", "scripts"]
DOCS = ["README.md", "spec", "setup.cfg", "pyproject.toml", ".ci"]


def module_path(name: str) -> Path:
    """The file of module `name` (package-relative folders mapped back to the repo's)."""
    for folder, pkg in sorted(PACKAGES.items(), key=lambda kv: -len(kv[1])):
        if name == pkg or name.startswith(pkg + "."):
            rest = name[len(pkg):].lstrip(".").split(".") if name != pkg else []
            base = ROOT / folder / Path(*rest) if rest else ROOT / folder
            if base.is_dir():
                return base / "__init__.py"
            return base.with_suffix(".py")
    raise SystemExit(f"not a module of the package: {name}")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    folder = rel.parts[0]
    parts = [PACKAGES[folder], *rel.parts[1:]]
    parts[-1] = parts[-1][:-3]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def remap(name: str, moves: dict) -> str:
    for old in sorted(moves, key=len, reverse=True):
        if name == old or name.startswith(old + "."):
            return moves[old] + name[len(old):]
    return name


def relative(importer: str, is_pkg: bool, target: str) -> tuple:
    """(level, module) of `from <level dots><module> import` for `target` seen from `importer`."""
    pkg = importer.split(".") if is_pkg else importer.split(".")[:-1]
    tgt = target.split(".")
    common = 0
    while common < min(len(pkg), len(tgt)) and pkg[common] == tgt[common]:
        common += 1
    return len(pkg) - common + 1, ".".join(tgt[common:])


def do_move(moves: dict) -> None:
    for old, new in moves.items():
        src = module_path(old)
        pkg_dir = src.parent if src.name == "__init__.py" else None
        dest_parts = new.split(".")
        dest = ROOT / "eventlog" / Path(*dest_parts[1:])
        if pkg_dir is None:
            dest = dest.with_suffix(".py")
        dest.parent.mkdir(parents=True, exist_ok=True)
        for parent in dest.relative_to(ROOT).parents:
            init = ROOT / parent / "__init__.py"
            if parent != Path(".") and not init.exists() and (ROOT / parent).is_dir():
                init.write_text(f'"""{parent.as_posix().replace("/", ".")}: see the modules inside."""\n')
                subprocess.run(["git", "add", str(init)], cwd=ROOT, check=True)
        subprocess.run(["git", "mv", str(pkg_dir or src), str(dest)], cwd=ROOT, check=True)


def rewrite_relative(path: Path, text: str, old_name: str, new_name: str, moves: dict, old_modules: set) -> str:
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    edits = []  # (lineno, col, end_lineno, end_col, replacement)
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if not node.level:  # absolute: only `from pkg import moved_submodule` needs an edit here
            subs = [f"{node.module}.{a.name}" for a in node.names]
            if not any(x in old_modules and remap(x, moves) != x for x in subs):
                continue
            groups = {}
            for alias, sub in zip(node.names, subs):
                as_name = alias.asname or alias.name
                if sub in old_modules:
                    parent, leaf = remap(sub, moves).rsplit(".", 1)
                else:
                    parent, leaf = remap(node.module, moves), alias.name
                groups.setdefault(parent, []).append(leaf if leaf == as_name else f"{leaf} as {as_name}")
            indent = " " * node.col_offset
            replacement = ("\n" + indent).join(f"from {t} import {', '.join(n)}" for t, n in groups.items())
            edits.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, replacement))
            continue
        base_parts = old_name.split(".") if is_pkg else old_name.split(".")[:-1]
        base_parts = base_parts[: len(base_parts) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
        indent = " " * node.col_offset
        groups = {}  # new "from" target -> list of alias texts
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in old_modules:
                moved = remap(sub, moves)
                parent, leaf = moved.rsplit(".", 1)
                as_name = alias.asname or alias.name
                text_alias = leaf if leaf == as_name else f"{leaf} as {as_name}"
                groups.setdefault(parent, []).append(text_alias)
            else:
                text_alias = alias.name if not alias.asname else f"{alias.name} as {alias.asname}"
                groups.setdefault(remap(base, moves), []).append(text_alias)
        stmts = []
        for target, names in groups.items():
            level, mod = relative(new_name, is_pkg, target)
            stmts.append((level, mod, names))
        original = ast.get_source_segment(text, node)
        if len(stmts) == 1:
            level, mod, names = stmts[0]
            old_level_mod = "." * node.level + (node.module or "")
            new_level_mod = "." * level + mod
            if old_level_mod == new_level_mod and all(
                    f"{base}.{a.name}" not in old_modules or remap(f"{base}.{a.name}", moves) == f"{base}.{a.name}"
                    for a in node.names):
                continue
            if [a.name if not a.asname else f"{a.name} as {a.asname}" for a in node.names] == names:
                replacement = re.sub(r"^from\s+\.*[\w.]*\s+import", f"from {new_level_mod} import", original, count=1)
            else:
                replacement = f"from {new_level_mod} import {', '.join(names)}"
        else:
            replacement = ("\n" + indent).join(
                f"from {'.' * lv}{md} import {', '.join(nm)}" for lv, md, nm in stmts)
        edits.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, replacement))
    for lineno, col, end_lineno, end_col, replacement in sorted(edits, reverse=True):
        start = sum(len(l) for l in lines[: lineno - 1]) + col
        end = sum(len(l) for l in lines[: end_lineno - 1]) + end_col
        joined = "".join(lines)
        joined = joined[:start] + replacement + joined[end:]
        lines = joined.splitlines(keepends=True)
    return "".join(lines)


def rewrite_in_strings(text: str, moves: dict, old_modules: set) -> str:
    """`from eventlog import writer` lines that `ast` does not see (a script inside a string)."""
    def one(m):
        indent, pkg, names = m.group(1), m.group(2), m.group(3)
        aliases = [a.strip() for a in names.split(",")]
        if not any(f"{pkg}.{a.split(' as ')[0]}" in old_modules and remap(f"{pkg}.{a.split(' as ')[0]}", moves)
                   != f"{pkg}.{a.split(' as ')[0]}" for a in aliases):
            return m.group(0)
        fake = f"from {pkg} import {names}\n"
        out = rewrite_relative(Path("x.py"), fake, "__main__", "__main__", moves, old_modules).rstrip("\n")
        return indent + out.replace("\n", "\n" + indent)
    return re.sub(r"(?m)^([ \t]*)from ([\w.]+) import ([\w ,]+?)[ \t]*$", one, text)


def dotted_pattern(moves: dict) -> re.Pattern:
    names = sorted(moves, key=len, reverse=True)
    return re.compile(r"(?<![\w.])(" + "|".join(re.escape(n) for n in names) + r")(?![\w])")


def path_pattern(moves: dict) -> tuple:
    """`eventlog/x.py` / `eventlog/x/` path mentions -> new paths."""
    table = {}
    for old, new in moves.items():
        o = module_path(old).relative_to(ROOT).as_posix()
        n = "eventlog/" + "/".join(new.split(".")[1:])
        if o.endswith("/__init__.py"):
            table[o[: -len("__init__.py")]] = n + "/"
        else:
            table[o] = n + ".py"
    keys = sorted(table, key=len, reverse=True)
    return re.compile(r"(?<![\w/.])(" + "|".join(re.escape(k) for k in keys) + r")"), table


def do_rewrite(moves: dict, old_modules: set, new_of_old_file: dict) -> None:
    dotted = dotted_pattern(moves)
    paths, table = path_pattern(moves)
    lazy_tables = {"eventlog/__init__.py": "eventlog", "eventlog/runops/__init__.py": "eventlog.runops"}
    for folder in SCAN:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ".venv" in path.parts or path.name == "move_modules.py":
                continue
            text = path.read_text()
            new_text = text
            if path.relative_to(ROOT).parts[0] in PACKAGES:
                new_name = module_name(path)
                old_name = new_of_old_file.get(new_name, new_name)
            else:  # tests, bench, scripts: absolute imports only
                new_name = old_name = "__main__"
            new_text = rewrite_relative(path, new_text, old_name, new_name, moves, old_modules)
            new_text = rewrite_in_strings(new_text, moves, old_modules)
            new_text = dotted.sub(lambda m: remap(m.group(1), moves), new_text)
            new_text = paths.sub(lambda m: table[m.group(1)], new_text)
            rel = path.relative_to(ROOT).as_posix()
            if rel in lazy_tables:
                pkg = lazy_tables[rel]

                def lazy(m, pkg=pkg):
                    absolute = pkg + m.group(2)
                    target = remap(absolute, moves)
                    if absolute not in old_modules or target == absolute:
                        return m.group(0)
                    short = "." + target[len(pkg) + 1:] if target.startswith(pkg + ".") else target
                    return m.group(1) + short + m.group(3)
                new_text = re.sub(r"""(["'])(\.[\w.]+)(["'])""", lazy, new_text)
            if new_text != text:
                path.write_text(new_text)
    for doc in DOCS:
        p = ROOT / doc
        files = [p] if p.is_file() else sorted(x for x in p.rglob("*") if x.is_file()) if p.exists() else []
        for f in files:
            text = f.read_text()
            new_text = paths.sub(lambda m: table[m.group(1)], dotted.sub(lambda m: remap(m.group(1), moves), text))
            if new_text != text:
                f.write_text(new_text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--move", action="store_true")
    ap.add_argument("--rewrite", action="store_true")
    ap.add_argument("pairs", nargs="+", help="old.module=new.module")
    args = ap.parse_args()
    moves = dict(p.split("=", 1) for p in args.pairs)
    if args.move:
        do_move(moves)
    if args.rewrite:
        current = {module_name(p) for f in PACKAGES for p in (ROOT / f).rglob("*.py")}
        inverse = {}
        for name in current:
            for old, new in moves.items():
                if name == new or name.startswith(new + "."):
                    inverse[name] = old + name[len(new):]
        old_modules = {inverse.get(n, n) for n in current}
        do_rewrite(moves, old_modules, inverse)


if __name__ == "__main__":
    sys.exit(main())
