"""The dashboard's HTML, rendered on the server. Every user string goes through `e()` (HTML
escaping); data for the page scripts travels as JSON in a non-executed
`<script type="application/json">` block with `<`, `>` and `&` escaped, and the scripts only ever
put user strings into the page as text. Pages load no inline script (see CSP in handlers.py)."""
from __future__ import annotations

import difflib
import html
import json
import math
import re
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote

from eventlog import __version__

from eventlog.records.media import media_kind

from ..media import describe
from ..wire import jsonable

STATIC = "/-/static"


def e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def q(v: str) -> str:
    return quote(str(v), safe="")


def data_block(obj: Any, ident: str = "evlog-data") -> str:
    text = json.dumps(jsonable(obj), ensure_ascii=False, allow_nan=False)
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f'<script type="application/json" id="{ident}">{text}</script>'


def when(t: Optional[float]) -> str:
    if t is None:
        return ""
    try:
        tm = time.gmtime(t)
    except (OverflowError, OSError, ValueError):  # a time no calendar shows (stored before the limits)
        return f"<time>{e(repr(t))}</time>"
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", tm)
    return f'<time datetime="{iso}" data-t="{t}">{time.strftime("%Y-%m-%d %H:%M:%S UTC", tm)}</time>'


def duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return ""
    if not math.isfinite(seconds) or abs(seconds) >= 1e15:
        return e(repr(seconds))
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m}m {sec}s" if h else (f"{m}m {sec}s" if m else f"{sec}s")


def project_url(entity: str, project: str) -> str:
    return f"/{q(entity)}/{q(project)}"


def series_url(entity: str, project: str, run_id: str) -> str:
    """The chart request of the run page (run.js asks exactly this; the page preloads it)."""
    return f"/-/api/runs/{q(entity)}/{q(project)}/{q(run_id)}/series?samples=2000"


def export_url(entity: str, project: str, run_id: str) -> str:
    """The history download of the run page (server/export.py; add ?format=csv or jsonl)."""
    return f"/-/export/{q(entity)}/{q(project)}/{q(run_id)}"


def run_path(entity: str, project: str, run_id: str) -> str:
    return f"/{q(entity)}/{q(project)}/runs/{q(run_id)}"


# ------------------------------------------------------------------ layout
def layout(title: str, body: str, *, who: Optional[str], csrf: Optional[str], crumbs: Sequence[Tuple[str, str]] = (),
           scripts: Sequence[str] = (), next_url: str = "/", preload: Sequence[str] = ()) -> str:
    nav = " / ".join(f'<a href="{e(href)}">{e(label)}</a>' if href else e(label) for label, href in crumbs)
    if who:
        account = (f'<span class="who">signed in as <a href="/{q(who)}">{e(who)}</a></span>'
                   f'<form method="post" action="/-/logout" class="inline"><input type="hidden" name="csrf" '
                   f'value="{e(csrf)}"><button type="submit" id="signout">Sign out</button></form>')
    else:
        account = f'<a class="button" id="signin-link" href="/-/login?next={q(next_url)}">Sign in</a>'
    tags = "".join(f'<script src="{STATIC}/{s}?v={__version__}"></script>' for s in scripts)
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{e(title)} - evlog</title>"
        f'<meta name="csrf-token" content="{e(csrf or "")}">'
        '<link rel="icon" href="/favicon.ico" sizes="any">'
        f'<link rel="stylesheet" href="{STATIC}/uPlot.min.css?v={__version__}">'
        f'<link rel="stylesheet" href="{STATIC}/evlog.css?v={__version__}">'
        + "".join(f'<link rel="preload" as="fetch" crossorigin href="{e(u)}">' for u in preload) +
        f"</head><body><header><a class=\"brand\" href=\"/\">evlog</a><nav>{nav}</nav>"
        f"<div class=\"account\">{account}</div></header><main>{body}</main>{tags}</body></html>"
    )


def error_page(status: int, message: str, *, who: Optional[str] = None, csrf: Optional[str] = None,
               next_url: str = "/") -> str:
    hint = "" if who else '<p>Private projects are shown only to their members: sign in.</p>'
    title = {404: "Not found", 400: "Bad request", 403: "Forbidden", 401: "Sign in"}.get(status, "Error")
    return layout(f"{status}", f'<h1>{status} {e(title)}</h1><p class="error">{e(message)}</p>{hint}',
                  who=who, csrf=csrf, next_url=next_url)


# ------------------------------------------------------------------ sign-in
def login_page(pre_token: str, next_url: str, error: Optional[str] = None) -> str:
    err = f'<p class="error" id="login-error">{e(error)}</p>' if error else ""
    body = (
        "<h1>Sign in</h1>"
        "<p>Paste an API key of this server (made by <code>evlog server users add NAME</code> "
        "or <code>evlog server users key NAME</code>).</p>"
        f"{err}<form method=\"post\" action=\"/-/login\" class=\"login\">"
        f'<input type="hidden" name="csrf" value="{e(pre_token)}">'
        f'<input type="hidden" name="next" value="{e(next_url)}">'
        '<label>API key <input type="password" name="api_key" id="api_key" autocomplete="current-password" '
        'required size="48"></label> <button type="submit" id="login-submit">Sign in</button></form>'
    )
    return layout("Sign in", body, who=None, csrf=None, crumbs=[("Sign in", "")])


# ------------------------------------------------------------------ home / entity
def _project_rows(projects: Sequence[Dict[str, Any]], with_entity: bool) -> str:
    rows = "".join(
        f'<tr data-project="{e(p["entity"])}/{e(p["name"])}"><td><a href="{project_url(p["entity"], p["name"])}">'
        + (f'{e(p["entity"])}/' if with_entity else "") + f'{e(p["name"])}</a> <span class="vis">{e(p["visibility"])}</span></td>'
        f'<td class="num project-runs">{e(p["runs"])}</td><td class="when project-activity">{when(p["last_activity"])}</td></tr>'
        for p in projects)
    return (f'<table class="list home"><thead><tr><th>project</th><th class="num">runs</th><th>last activity</th></tr>'
            f"</thead><tbody>{rows}</tbody></table>")


def home_page(data: Dict[str, Any], *, who: Optional[str], csrf: Optional[str]) -> str:
    """The caller's projects and the open ones, each with its number of runs and last activity
    (its runs' last update), and the runs updated last."""
    parts = ["<h1>Projects</h1>"]
    for ent in data["mine"]:
        table = _project_rows(ent["projects"], False) if ent["projects"] else '<p class="muted">no projects yet</p>'
        parts.append(f'<section><h2><a href="/{q(ent["entity"])}">{e(ent["entity"])}</a></h2>{table}</section>')
    if data["open"]:
        parts.append(f'<section id="open-projects"><h2>Open projects</h2>{_project_rows(data["open"], True)}</section>')
    if not data["mine"] and not data["open"]:
        parts.append("<p class=\"muted\">Nothing to show yet. Sign in to see your projects.</p>")
    recent = data.get("recent") or []
    side = ""
    if recent:
        rows = "".join(
            f'<tr data-run="{e(r["id"])}"><td><a class="run-link" href="{run_path(r["entity"], r["project"], r["id"])}">'
            f'{e(r["name"] or r["id"])}</a></td>'
            f'<td><a href="{project_url(r["entity"], r["project"])}">{e(r["entity"])}/{e(r["project"])}</a></td>'
            f'<td><span class="state state-{e(r["state"])}">{e(r["state"])}</span></td>'
            f'<td class="when">{when(r["updated_at"])}</td></tr>' for r in recent)
        side = (f'<section id="recent-runs"><h2>Recent runs</h2><table class="list home"><thead><tr><th>run</th>'
                f"<th>project</th><th>state</th><th>last activity</th></tr></thead><tbody>{rows}</tbody></table></section>")
    body = f'<div class="columns home-columns"><div>{"".join(parts)}</div><div>{side}</div></div>'
    return layout("Projects", body, who=who, csrf=csrf, scripts=["evlog.js"])


def entity_page(entity: str, data: Dict[str, Any], *, who: Optional[str], csrf: Optional[str]) -> str:
    rows = "".join(
        f'<tr><td><a href="{project_url(entity, p["name"])}">{e(p["name"])}</a></td><td>{e(p["visibility"])}</td>'
        f'<td class="num">{e(p["runs"])}</td><td>{when(p["created_at"])}</td></tr>' for p in data["projects"]
    ) or '<tr><td colspan="4" class="muted">no projects you can see</td></tr>'
    body = (f"<h1>{e(entity)}</h1><table class=\"list\" id=\"projects\"><thead><tr><th>project</th>"
            f"<th>visibility</th><th>runs</th><th>created</th></tr></thead><tbody>{rows}</tbody></table>")
    return layout(entity, body, who=who, csrf=csrf, crumbs=[(entity, f"/{q(entity)}")], next_url=f"/{q(entity)}")


# ------------------------------------------------------------------ project (runs table)
def project_page(data: Dict[str, Any], *, who: Optional[str], csrf: Optional[str]) -> str:
    ent, proj = data["entity"], data["project"]
    body = (
        f'<h1>{e(proj)} <span class="vis">{e(data["visibility"])}</span></h1>'
        '<div class="toolbar" id="runs-toolbar">'
        '<input type="search" id="filter-text" placeholder="search name, id, notes">'
        '<select id="filter-state"><option value="">any state</option><option>running</option>'
        '<option>finished</option><option>failed</option><option>crashed</option></select>'
        '<select id="filter-tag"><option value="">any tag</option></select>'
        '<select id="filter-group"><option value="">any group</option></select>'
        '<label><input type="checkbox" id="group-rows"> group rows by group</label>'
        '<details id="columns"><summary>columns</summary><div id="column-choices"></div></details>'
        '<button type="button" id="compare-button" disabled>Compare selected</button>'
        '<span id="live-status" class="muted"></span>'
        "</div>"
        '<div class="table-wrap"><table class="runs" id="runs-table"><thead></thead><tbody></tbody></table></div>'
        '<p id="runs-empty" class="muted" hidden>No runs match.</p>'
        '<details id="project-charts-box" open><summary><h2>Charts</h2> '
        '<span class="muted" id="project-charts-note"></span></summary>'
        '<div class="chart-controls"><label>smoothing <input type="range" id="smoothing" min="0" max="0.99" '
        'step="0.01" value="0"> <output id="smoothing-value">0</output></label>'
        '<label><input type="checkbox" id="log-scale"> log scale</label></div>'
        '<div id="project-charts" class="charts"></div></details>'
        f"{data_block(data)}"
    )
    return layout(proj, body, who=who, csrf=csrf, crumbs=[(ent, f"/{q(ent)}"), (proj, project_url(ent, proj))],
                  scripts=["uPlot.iife.min.js", "evlog.js", "runs.js"], next_url=project_url(ent, proj))


# ------------------------------------------------------------------ run page
def _kv_table(d: Dict[Any, Any], ident: str, rounded: bool = False) -> str:
    """A key/value table; with `rounded`, floats are shown rounded, their full value on hover."""
    if not d:
        return f'<p class="muted" id="{ident}">empty</p>'
    rows = "".join(
        f"<tr><th>{e(k)}</th><td>{_value_cell(v, rounded)}</td></tr>" for k, v in sorted(d.items(), key=lambda kv: str(kv[0]))
    )
    return f'<table class="kv" id="{ident}">{rows}</table>'


def _value_cell(v: Any, rounded: bool) -> str:
    full = _show(v)
    shown = _show(v, rounded=True) if rounded else full
    title = f' title="{e(full)}"' if shown != full else ""
    return f"<code{title}>{e(shown)}</code>"


def fmt_number(v: float) -> str:
    """A float as the dashboard shows it (evlog.js EV.fmtValue): 6 significant digits, or 4
    decimals and an exponent below 1e-3 and from 1e6 on."""
    if v != v or v in (float("inf"), float("-inf")):
        return json.dumps(jsonable(v))
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    if abs(v) < 1e-3 or abs(v) >= 1e6:
        mant, exp = f"{v:.4e}".split("e")
        return f"{mant}e{'-' if exp[0] == '-' else '+'}{int(exp[1:])}"
    return f"{v:.6g}"


def _rounded(v: Any) -> str:
    """`v` as JSON text with its floats rounded by fmt_number (maps and lists too)."""
    if isinstance(v, float):
        return fmt_number(v)
    if isinstance(v, dict) and media_kind(v) is None:
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {_rounded(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_rounded(x) for x in v) + "]"
    return json.dumps(jsonable(v), ensure_ascii=False)


def _show(v: Any, rounded: bool = False) -> str:
    if isinstance(v, str):
        return v
    if media_kind(v) is not None:  # media: shown under Media
        return describe(v)
    if rounded:
        return _rounded(jsonable(v))
    return json.dumps(jsonable(v), ensure_ascii=False)


_SCP = re.compile(r"^(?:[\w.-]+@)?([\w.-]+):(?!//)(.+)$")


def web_url(remote: Optional[str]) -> Optional[str]:
    """The https page of a git remote (github/gitlab-like), or None when it has none."""
    if not remote or not isinstance(remote, str):
        return None
    r = remote.strip()
    if r.startswith(("https://", "http://")):
        url = r
    elif r.startswith("ssh://"):
        rest = r[len("ssh://"):]
        rest = rest.split("@", 1)[-1]
        host, _, path = rest.partition("/")
        url = f"https://{host.split(':')[0]}/{path}"
    else:
        m = _SCP.match(r)
        if not m:
            return None
        url = f"https://{m.group(1)}/{m.group(2).lstrip('/')}"
    if url.endswith(".git"):
        url = url[:-4]
    return url.rstrip("/") if re.match(r"^https?://[^\s\"'<>]+$", url) else None


def _link(url: Optional[str], text: Any, ident: str = "") -> str:
    idattr = f' id="{ident}"' if ident else ""
    if url and re.match(r"^https?://", url):
        return f'<a href="{e(url)}" rel="noreferrer noopener" target="_blank"{idattr}>{e(text)}</a>'
    return f"<span{idattr}>{e(text)}</span>"


def command_line(program: Optional[Dict[str, Any]]) -> str:
    from eventlog.capture.sysinfo import shell_quote

    argv = (program or {}).get("argv") or []
    return " ".join(shell_quote(str(a)) for a in argv)


def rows_text(n: Optional[int]) -> str:
    return "" if n is None else f"{n} row{'' if n == 1 else 's'}"


def start_row(run: Dict[str, Any]) -> Tuple[str, str]:
    """The run's start on the run's own clock (its run record), the clock of "ended" too, so the two
    never come out of order; the server's first upload (its clock) goes in the tooltip."""
    created, started = run.get("created_at"), run.get("started_at")
    if started is None:
        return ("created", f'<span id="run-started">{when(created)}</span>')
    server = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(created)) if created else ""
    tip = f"the run's clock; first upload to this server at {server} (the server's clock)" if server else ""
    return ("started", f'<span id="run-started" title="{e(tip)}">{when(started)}</span>')


def run_page(run: Dict[str, Any], *, who: Optional[str] = None, csrf: Optional[str] = None) -> str:
    ent, proj, rid = run["entity"], run["project"], run["id"]
    name = run.get("name") or rid
    can_edit = bool(run.get("can_edit"))
    state = run.get("state")
    ended = run.get("ended_at")
    dur = run.get("runtime")
    if dur is None and run.get("started_at"):
        dur = (ended or run.get("updated_at") or time.time()) - run["started_at"]
    exit_code = run.get("exit_code")
    tags = "".join(f'<span class="tag">{e(t)}</span>' for t in run.get("tags") or [])
    edit = ""
    if can_edit:
        edit = (
            '<form id="edit-form" class="edit" hidden>'
            f'<label>name <input type="text" id="edit-name" value="{e(run.get("name") or "")}" maxlength="1000"></label>'
            f'<label>tags <input type="text" id="edit-tags" value="{e(", ".join(run.get("tags") or []))}" '
            'placeholder="comma-separated"></label>'
            f'<label>notes <textarea id="edit-notes" rows="4">{e(run.get("notes") or "")}</textarea></label>'
            '<button type="submit" id="edit-save">Save</button> <button type="button" id="edit-cancel">Cancel</button>'
            '<span id="edit-status" class="muted"></span></form>'
            '<button type="button" id="edit-button">Edit name, notes, tags</button>'
        )
    if run.get("can_delete"):  # rundelete.js: asks for the run id before DELETE {run}
        edit += (
            '<button type="button" id="delete-button" class="danger">Delete run</button>'
            '<form id="delete-form" class="edit" hidden>'
            f'<p>Delete run <code>{e(rid)}</code> with its history, files and logs? This cannot be undone, '
            'and the id can never be used again. Type the run id to confirm.</p>'
            '<label>run id <input type="text" id="delete-confirm" autocomplete="off"></label>'
            '<button type="submit" id="delete-submit" class="danger" disabled>Delete for good</button> '
            '<button type="button" id="delete-cancel">Cancel</button>'
            '<span id="delete-status" class="muted"></span></form>'
        )
    meta_rows: List[Tuple[str, str]] = [
        ("id", f"<code>{e(rid)}</code>"),
        ("state", f'<span class="state state-{e(state)}" id="run-state">{e(state)}</span>'
                  + (f' <span id="run-exit">exit code {e(exit_code)}</span>' if exit_code is not None else "")),
        ("user", e(run.get("user") or "")),
        ("group", e(run.get("group") or "")),
        ("job type", e(run.get("job_type") or "")),
        start_row(run),
        ("ended", f'<span id="run-ended">{when(ended)}</span>'),
        ("duration", f'<span id="run-duration">{e(duration(dur))}</span>'),
        ("history", f'<span id="run-rows">{e(rows_text(run.get("history_rows")))}</span>'),
        ("last step", f'<span id="run-steps">{e(run.get("last_step") if run.get("last_step") is not None else "")}</span>'),
        ("sessions", e(run.get("sessions"))),
    ]
    if run.get("missing_records"):
        meta_rows.append(("missing records", e(run["missing_records"])))
    if run.get("warnings"):
        meta_rows.append(("warnings", e(run["warnings"])))
    program, git = run.get("program"), run.get("git")
    member = "program" in run  # git, program and code are only in the run object for members
    if program:
        meta_rows.append(("command", f'<code id="run-command">{e(command_line(program))}</code>'))
    meta = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in meta_rows)
    sections: List[str] = []
    if git:
        page = web_url(git.get("remote"))
        commit = git.get("commit")
        branch = git.get("branch")
        rows = [
            ("commit", _link(f"{page}/commit/{q(commit)}" if page and commit else None, commit or "", "git-commit")),
            ("branch", _link(f"{page}/tree/{q(branch)}" if page and branch else None, branch or "", "git-branch")),
            ("remote", _link(page, git.get("remote") or "", "git-remote")),
            ("dirty", e("yes" if git.get("dirty") else "no")),
        ]
        diff = run.get("diff_text")
        diff_html = (f'<details open><summary>diff against the commit</summary><pre class="code diff" id="git-diff">'
                     f"{e(diff)}</pre></details>" if diff else "")
        sections.append("<section id=\"git\"><h2>Git</h2><table class=\"kv\">"
                        + "".join(f"<tr><th>{a}</th><td>{b}</td></tr>" for a, b in rows) + f"</table>{diff_html}</section>")
    if run.get("code_text") is not None:
        path = (run.get("code") or {}).get("original") or (run.get("code") or {}).get("path")
        sections.append(f'<section id="code"><h2>Code <code>{e(path)}</code></h2>'
                        f'<pre class="code" id="code-text">{e(run["code_text"])}</pre></section>')
    if program:
        keys = ("python", "implementation", "executable", "host", "os", "cwd", "pid", "path")
        info = {k: program[k] for k in keys if program.get(k) not in (None, "")}
        info.update({k: v for k, v in program.items() if k not in keys and k != "argv"})
        if info:
            sections.append(f'<section id="system"><h2>System</h2>{_kv_table(info, "system-table")}</section>')
    if not member:
        sections.append('<p class="muted" id="hidden-note">Git information, code, diff and command line are shown '
                        "to members of this project's entity only.</p>")
    notes = run.get("notes")
    body = (
        f'<div class="run-head">{swatch(run)}<h1 id="run-name">{e(name)}</h1>'
        f'<span class="state state-{e(state)}" id="run-state-badge">{e(state)}</span></div>'
        f'<div id="run-tags" class="tags">{tags}</div>'
        f'<pre class="notes" id="run-notes"{"" if notes else " hidden"}>{e(notes or "")}</pre>'
        f"{edit}"
        '<div class="columns"><div>'
        f'<h2>Run</h2><table class="kv" id="run-meta">{meta}</table>'
        f'<h2>Config</h2>{_kv_table(run.get("config") or {}, "config-table")}'
        f'<h2>Summary</h2>{_kv_table(run.get("summary") or {}, "summary-table", rounded=True)}'
        "</div><div>"
        '<h2>Charts</h2><div class="chart-controls" id="chart-controls">'
        '<label>smoothing <input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="0">'
        ' <output id="smoothing-value">0</output></label>'
        '<label><input type="checkbox" id="log-scale"> log scale</label>'
        '<span id="chart-status" class="muted"></span>'
        f'<span class="muted" id="export-links">history: <a href="{e(export_url(ent, proj, rid))}?format=csv" download>CSV</a>'
        f' · <a href="{e(export_url(ent, proj, rid))}?format=jsonl" download>JSON Lines</a></span></div>'
        '<div id="charts" class="charts"></div>'
        '<section id="media-section" hidden><h2>Media</h2><div id="media" class="media"></div></section>'
        '<section id="system-section" hidden><h2>System metrics</h2><div id="system-charts" class="charts"></div></section>'
        '<section id="artifacts-section" hidden><h2>Artifacts</h2><div id="artifacts"></div></section>'
        '<section id="files-section" hidden><h2>Files</h2><div id="files"></div></section>'
        '<section id="logs-section" hidden><h2>Logs</h2><p id="logs-note" class="muted" hidden></p>'
        '<pre id="logs" class="logs"></pre></section>'
        f'{"".join(sections)}'
        "</div></div>"
        f"{data_block(run)}"
    )
    return layout(f"{name}", body, who=who, csrf=csrf,
                  crumbs=[(ent, f"/{q(ent)}"), (proj, project_url(ent, proj)), (name, run_path(ent, proj, rid))],
                  scripts=["uPlot.iife.min.js", "evlog.js", "run.js", "mediachart.js", "media.js", "system.js", "output.js", "artifacts.js", "files.js", "rundelete.js"], next_url=run_path(ent, proj, rid),
                  preload=[series_url(ent, proj, rid)])


# ------------------------------------------------------------------ compare
def side_by_side(a: str, b: str, name_a: str, name_b: str) -> str:
    """A two-column diff table of two texts; every line escaped."""
    la, lb = a.splitlines(), b.splitlines()
    rows: List[str] = []
    sm = difflib.SequenceMatcher(None, la, lb, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                rows.append(_diff_row(i1 + k + 1, la[i1 + k], j1 + k + 1, lb[j1 + k], "same"))
            continue
        n = max(i2 - i1, j2 - j1)
        for k in range(n):
            left = la[i1 + k] if i1 + k < i2 else None
            right = lb[j1 + k] if j1 + k < j2 else None
            rows.append(_diff_row(i1 + k + 1 if left is not None else None, left,
                                  j1 + k + 1 if right is not None else None, right, "changed"))
    changed = sum(1 for r in rows if 'class="changed"' in r)
    head = f"<tr><th></th><th>{e(name_a)}</th><th></th><th>{e(name_b)}</th></tr>"
    return (f'<p class="muted" id="diff-summary">{changed} line(s) differ</p>'
            f'<table class="sbs" id="code-diff"><colgroup><col class="ln"><col><col class="ln"><col></colgroup>'
            f'<thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>')


def _diff_row(na: Optional[int], a: Optional[str], nb: Optional[int], b: Optional[str], cls: str) -> str:
    ca = "del" if cls == "changed" and a is not None else ""
    cb = "add" if cls == "changed" and b is not None else ""
    return (f'<tr class="{cls}"><td class="ln">{"" if na is None else na}</td><td class="{ca}"><code>{e(a or "")}</code></td>'
            f'<td class="ln">{"" if nb is None else nb}</td><td class="{cb}"><code>{e(b or "")}</code></td></tr>')


SWATCHES = ["#2f6fdf", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599", "#e67700", "#5c940d",
            "#862e9c", "#1864ab"]  # evlog.js's COLORS, in the same order


def swatch(run: Dict[str, Any]) -> str:
    """The run's chart colour (its "color" index, as EV.runColor) as a small square."""
    i = run.get("color")
    if not isinstance(i, int):
        return ""
    return f'<span class="swatch" style="background:{SWATCHES[i % len(SWATCHES)]}" title="this run\'s colour in charts"></span>'


def compare_page(entity: str, project: str, runs: List[Dict[str, Any]], *, who: Optional[str], csrf: Optional[str],
                 member: bool) -> str:
    heads = "".join(f'<th>{swatch(r)}<a href="{run_path(entity, project, r["id"])}">{e(r.get("name") or r["id"])}</a></th>'
                    for r in runs)
    cfg_keys = sorted({str(k) for r in runs for k in (r.get("config") or {})})
    sum_keys = sorted({str(k) for r in runs for k in (r.get("summary") or {})})
    states = "".join(f"<td>{e(r.get('state'))}</td>" for r in runs)
    rows = [f"<tr><th>state</th>{states}</tr>"]
    for label, keys, field in (("config", cfg_keys, "config"), ("summary", sum_keys, "summary")):
        for k in keys:
            vals = [(r.get(field) or {}).get(k) for r in runs]
            differs = len({json.dumps(jsonable(v), sort_keys=True) for v in vals}) > 1
            rows.append(f'<tr class="{"differs" if differs else ""}"><th>{label}.{e(k)}</th>'
                        + "".join("<td></td>" if v is None else f"<td>{_value_cell(v, field == 'summary')}</td>"
                                  for v in vals) + "</tr>")
    table = f'<table class="list" id="compare-table"><thead><tr><th></th>{heads}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    code = ""
    if len(runs) >= 2:
        a, b = runs[0], runs[1]
        if not member:
            code = '<p class="muted" id="code-hidden">Code is shown to members of this project\'s entity only.</p>'
        elif a.get("code_text") is None or b.get("code_text") is None:
            code = '<p class="muted" id="code-missing">One of the runs has no saved code.</p>'
        else:
            code = side_by_side(a["code_text"], b["code_text"], a.get("name") or a["id"], b.get("name") or b["id"])
        code = f'<section id="code-compare"><h2>Code</h2>{code}</section>'
    body = (
        f"<h1>Compare {len(runs)} runs</h1>"
        '<div class="chart-controls"><label>metric <select id="compare-metric"></select></label>'
        '<label>smoothing <input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="0">'
        ' <output id="smoothing-value">0</output></label>'
        '<label><input type="checkbox" id="log-scale"> log scale</label>'
        '<span id="chart-status" class="muted"></span></div>'
        '<div id="compare-chart" class="chart wide"></div>'
        '<h2>Every metric</h2><div id="compare-grid" class="charts"></div>'
        f"{table}{code}"
        + data_block({"entity": entity, "project": project,
                      "runs": [{"id": r["id"], "name": r.get("name"), "state": r.get("state"), "color": r.get("color"),
                                "metrics": r.get("metrics") or []} for r in runs]})
    )
    return layout("Compare", body, who=who, csrf=csrf,
                  crumbs=[(entity, f"/{q(entity)}"), (project, project_url(entity, project)), ("compare", "")],
                  scripts=["uPlot.iife.min.js", "evlog.js", "compare.js"], next_url=project_url(entity, project))

