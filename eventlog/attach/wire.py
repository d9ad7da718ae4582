"""The attach channel's framing, its attach id, and where its socket lives (spec/format.md 8)."""
from __future__ import annotations

import os
import socket
import stat
import struct
import tempfile
from typing import Optional, Tuple

from ..errors import UsageError

ID_PREFIX = "evlog-attach-1"
MAX_FRAME = 1 << 30
_LEN = struct.Struct("<I")
_MAX_SOCKET_PATH = 100  # AF_UNIX paths are at most 107 bytes on Linux, 103 on macOS


def make_id(run_id: str, token: str, path: str) -> str:
    """The attach id: everything another process needs to reach the run's owner."""
    return f"{ID_PREFIX}:{run_id}:{token}:{path}"


def parse_id(attach_id: object) -> Tuple[str, str, str]:
    """(run id, token, socket path) of an attach id; UsageError naming `attach_id` if it is not one."""
    if not isinstance(attach_id, str) or not attach_id.startswith(ID_PREFIX + ":"):
        raise UsageError(
            f"attach_id {attach_id!r} is not an evlog attach id (\"{ID_PREFIX}:...\"); pass the run._attach_id "
            "read in the process that owns the run"
        )
    parts = attach_id[len(ID_PREFIX) + 1:].split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise UsageError(f"attach_id {attach_id!r} is cut short; pass run._attach_id as the owner gave it")
    return parts[0], parts[1], parts[2]


def socket_dir() -> str:
    """A folder only this user can enter (mode 0700), for the channels' sockets: the run folder
    itself is no place for one (its path may pass the AF_UNIX limit, and run folders are copied)."""
    for base in (os.environ.get("XDG_RUNTIME_DIR"), tempfile.gettempdir(), "/tmp"):
        if not base or not os.path.isdir(base):
            continue
        d = os.path.join(base, f"evlog-{os.getuid()}")
        if len(os.fsencode(d)) > _MAX_SOCKET_PATH - 30:
            continue
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        except OSError:
            continue
        st = os.lstat(d)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            continue  # someone else's (or a symlink): not ours to trust
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(d, 0o700)
        return d
    raise OSError("no folder for the attach channel's socket (tried $XDG_RUNTIME_DIR, the temp folder, /tmp)")


def peer_uid(sock: socket.socket) -> Optional[int]:
    """The user id of the process at the other end of a Unix socket (None where unknown)."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i")))
    except OSError:
        return None
    return uid


def send_frame(sock: socket.socket, payload: bytes) -> None:
    """One frame: u32 little-endian length, then the payload."""
    sock.sendall(_LEN.pack(len(payload)) + payload)


def recv_frame(sock: socket.socket) -> Optional[bytes]:
    """The next frame's payload; None when the other end closed (or the frame was cut off)."""
    head = _recv_exact(sock, _LEN.size)
    if head is None:
        return None
    (n,) = _LEN.unpack(head)
    if n > MAX_FRAME:
        raise OSError(f"attach channel: a frame of {n} bytes is over the {MAX_FRAME}-byte limit")
    return _recv_exact(sock, n)


def _recv_exact(sock: socket.socket, n: int) -> Optional[bytes]:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except (ConnectionResetError, OSError):
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)
