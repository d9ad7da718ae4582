"""What init() records about the program: command line, Python, host, git state, and saved code.

Git is asked with the `git` command (never a Python git library): the status and the remotes run
in parallel with the rest of init(), the diff against HEAD streams straight into the run folder.
Remote URLs are stored with their credentials stripped.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..util.hashing import file_digest

GIT_TIMEOUT = 10.0
DIFF_FILE = "diff.patch"
CODE_DIR = "code"


# ---------------------------------------------------------------------- small helpers
def which(name: str):
    """The executable `name` on $PATH, or None (shutil.which without importing shutil)."""
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        p = os.path.join(d or ".", name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def copy_file(src, dest) -> None:
    """Copy a file's bytes (shutil.copyfile without importing shutil)."""
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        try:
            size = os.fstat(fin.fileno()).st_size
            sent = 0
            while sent < size:
                n = os.sendfile(fout.fileno(), fin.fileno(), sent, size - sent)
                if n == 0:
                    break
                sent += n
            if sent == size:
                return
            fin.seek(sent)
            fout.seek(sent)
        except (AttributeError, OSError):
            fin.seek(0)
            fout.seek(0)
            fout.truncate()
        while True:
            chunk = fin.read(1 << 20)
            if not chunk:
                break
            fout.write(chunk)


def shell_quote(s: str) -> str:
    """`s` quoted for a POSIX shell when it needs it (shlex.quote without importing shlex)."""
    if s and all(c.isascii() and (c.isalnum() or c in "@%+=:,./-_") for c in s):
        return s
    return "'" + s.replace("'", "'\"'\"'") + "'"


# ---------------------------------------------------------------------------- program
def main_script():
    """Absolute path of the program's main script, or None (interactive, `python -c`, notebook)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not isinstance(path, str):
        return None
    path = os.path.abspath(path)
    return path if os.path.isfile(path) else None


def program_info() -> dict:
    u = os.uname()
    vi = sys.version_info
    return {
        "argv": [str(a) for a in sys.argv],
        "path": main_script(),
        "python": f"{vi.major}.{vi.minor}.{vi.micro}",
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "host": u.nodename,
        "os": f"{u.sysname}-{u.release}-{u.machine}",
        "pid": os.getpid(),
        "cwd": os.getcwd(),
    }


# ------------------------------------------------------------------------ credentials
def strip_credentials(url):
    """A remote URL without credentials: user:password@ (and a bare user, which is often a token)
    is removed from http(s)/ftp URLs, a password from ssh URLs; the query string and fragment,
    which can carry tokens, are dropped. scp-like `user@host:path` keeps its (ssh) user."""
    if not url:
        return url
    url = url.strip()
    if "://" in url:
        from urllib.parse import urlsplit, urlunsplit

        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port
        except ValueError:
            return "<unparsable remote URL removed>"
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{port}" if port else "")
        scheme = parts.scheme.lower()
        if scheme in ("ssh", "git+ssh", "ssh+git") and parts.username and parts.password is None:
            netloc = f"{parts.username}@{netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    # scp-like syntax: [user[:password]@]host:path
    at = url.find("@")
    if at > 0 and "/" not in url[:at]:
        user = url[:at].split(":", 1)[0]
        return f"{user}@{url[at + 1:]}"
    return url


# ------------------------------------------------------------------------------- git
def _git_env() -> dict:
    env = dict(os.environ)
    env.update(GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C", GIT_PAGER="cat")
    return env


def in_git_tree(where: str) -> bool:
    """Whether `where` may be inside a git work tree: a `.git` in it or a parent (below
    $GIT_CEILING_DIRECTORIES), or $GIT_DIR set. Saves starting git where there is no repository."""
    if os.environ.get("GIT_DIR"):
        return True
    ceilings = {os.path.abspath(c) for c in os.environ.get("GIT_CEILING_DIRECTORIES", "").split(os.pathsep) if c}
    d = os.path.abspath(where)
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return True
        parent = os.path.dirname(d)
        if parent == d or parent in ceilings:
            return False
        d = parent


class GitProbe:
    """Asks git about the repository holding `where`, in the background; `result()` collects."""

    def __init__(self, where: str, run_folder) -> None:
        import subprocess

        self._sp = subprocess
        self.where = where
        self.run_folder = Path(run_folder) if run_folder is not None else None
        self._procs = {}
        self._diff_fh = None
        git = which("git") if in_git_tree(where) else None
        if git is None:
            return
        env = _git_env()
        base = [git, "-C", where]

        def start(name, args, stdout=None):
            try:
                self._procs[name] = subprocess.Popen(
                    base + args, stdin=subprocess.DEVNULL, stdout=stdout or subprocess.PIPE,
                    stderr=subprocess.DEVNULL, env=env, close_fds=True,
                )
            except OSError:
                pass

        start("status", ["status", "--porcelain=v2", "--branch", "--untracked-files=no"])
        start("remotes", ["config", "--get-regexp", r"^remote\..*\.url$"])
        if self.run_folder is not None:
            try:
                self._diff_fh = open(self.run_folder / DIFF_FILE, "wb")
            except OSError:
                self._diff_fh = None
            if self._diff_fh is not None:
                start("diff", ["diff", "HEAD", "--binary", "--no-color", "--no-ext-diff"], stdout=self._diff_fh)

    def _collect(self, name):
        proc = self._procs.get(name)
        if proc is None:
            return None, None
        try:
            out, _ = proc.communicate(timeout=GIT_TIMEOUT)
        except self._sp.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return None, None
        return proc.returncode, (out or b"").decode("utf-8", "replace")

    def result(self):
        """The run record's `git` map (None outside a git repository), writing diff.patch."""
        code, status = self._collect("status")
        _, remotes = self._collect("remotes")
        dcode, _ = self._collect("diff")
        if self._diff_fh is not None:
            self._diff_fh.close()
        info = None
        if code == 0 and status is not None:
            info = {"commit": None, "branch": None, "remote": None, "dirty": False, "diff_file": None}
            for line in status.splitlines():
                if line.startswith("# branch.oid "):
                    oid = line[len("# branch.oid "):].strip()
                    info["commit"] = None if oid == "(initial)" else oid
                elif line.startswith("# branch.head "):
                    head = line[len("# branch.head "):].strip()
                    info["branch"] = None if head == "(detached)" else head
                elif line and not line.startswith("#"):
                    info["dirty"] = True
            urls = {}
            for line in (remotes or "").splitlines():
                key, _, url = line.partition(" ")
                name = key[len("remote."):-len(".url")] if key.startswith("remote.") else key
                urls.setdefault(name, url.strip())
            if urls:
                url = urls.get("origin") or urls[sorted(urls)[0]]
                info["remote"] = strip_credentials(url)
        diff_path = self.run_folder / DIFF_FILE if self.run_folder is not None else None
        if diff_path is not None:
            try:
                keep = info is not None and dcode == 0 and diff_path.stat().st_size > 0
            except OSError:
                keep = False
            if keep:
                info["diff_file"] = DIFF_FILE
            else:
                try:
                    diff_path.unlink()
                except OSError:
                    pass
        return info


# ------------------------------------------------------------------------------ code
def notebook_path():
    """The notebook the program runs in, when it can be told: $EVLOG_NOTEBOOK_NAME /
    $WANDB_NOTEBOOK_NAME, or VS Code's `__vsc_ipynb_file__`."""
    for var in ("EVLOG_NOTEBOOK_NAME", "WANDB_NOTEBOOK_NAME"):
        p = os.environ.get(var)
        if p and os.path.isfile(p):
            return os.path.abspath(p)
    main = sys.modules.get("__main__")
    p = getattr(main, "__vsc_ipynb_file__", None)
    if isinstance(p, str) and os.path.isfile(p):
        return p
    return None


def _ipython_history():
    """The cells run so far in an IPython/Jupyter session, as Python source; None elsewhere."""
    ip_mod = sys.modules.get("IPython")
    if ip_mod is None:
        return None
    try:
        ip = ip_mod.get_ipython()
    except Exception:  # noqa: BLE001
        return None
    if ip is None:
        return None
    cells = getattr(ip, "user_ns", {}).get("In") or []
    return "\n\n".join(f"# In[{i}]\n{c}" for i, c in enumerate(cells) if c)


def save_code(run_folder: Path):
    """Copy the main script (or the notebook) into `<run folder>/code/`. Returns the run record's
    `code` map and the `files` entry, or (None, None) when there is nothing to save."""
    src = notebook_path() or main_script()
    dest_dir = run_folder / CODE_DIR
    if src is not None:
        dest = dest_dir / os.path.basename(src)
        try:
            dest_dir.mkdir(exist_ok=True)
            copy_file(src, dest)
            digest, size = file_digest(dest)
        except OSError:
            return None, None
        original = src
    else:
        text = _ipython_history()
        if not text:
            return None, None
        dest = dest_dir / "session_history.py"
        try:
            dest_dir.mkdir(exist_ok=True)
            dest.write_text(text, encoding="utf-8")
            digest, size = file_digest(dest)
        except OSError:
            return None, None
        original = None
    rel = dest.relative_to(run_folder).as_posix()
    return (
        {"path": rel, "original": original, "sha256": digest},
        {"path": rel, "sha256": digest, "size": size, "kind": "code"},
    )
