#!/usr/bin/env bash
# The main job in one command (README's first): installs evlog with the server into .venv, starts a
# local `evlog server` on its embedded SQLite database, logs a sample training run to it live, logs
# another one offline and syncs it with `evlog sync`, then prints the dashboard URL.
# The server keeps running in the background: `bash scripts/demo.sh stop` stops it.
# EVLOG_DEMO_PORT picks the port (default: 8080, else the next free one). For tests:
# EVLOG_DEMO_VENV (default .venv), EVLOG_DEMO_NO_INSTALL=1, EVLOG_DEMO_DIR (state, default .demo),
# EVLOG_DIR (where run folders go, default here); the database follows XDG_DATA_HOME.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
STATE=${EVLOG_DEMO_DIR:-.demo}
VENV=${EVLOG_DEMO_VENV:-.venv}
RUNS=${EVLOG_DIR:-.}
mkdir -p "$STATE"

stop_server() {
  if [ -f "$STATE/server.pid" ] && kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null; then
    kill "$(cat "$STATE/server.pid")" && echo "demo server stopped" >&2
  fi
  rm -f "$STATE/server.pid" "$STATE/server.url"
}
if [ "${1:-}" = "stop" ]; then stop_server; exit 0; fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
[ "${EVLOG_DEMO_NO_INSTALL:-}" = 1 ] || "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[server]'
evlog() { "$VENV/bin/evlog" "$@"; }

healthy() { "$VENV/bin/python" -c "import sys, requests; sys.exit(0 if requests.get(sys.argv[1] + '/api/v1/health', timeout=2).ok else 1)" "$1" 2>/dev/null; }

# the server: reuse the one a previous run of this script started, else start one
URL=""
if [ -f "$STATE/server.url" ] && healthy "$(cat "$STATE/server.url")"; then
  URL=$(cat "$STATE/server.url")
else
  stop_server
  PORT=${EVLOG_DEMO_PORT:-$("$VENV/bin/python" - <<'PYEOF'
import socket
for port in range(8080, 8180):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        print(port)
        break
PYEOF
)}
  URL="http://127.0.0.1:$PORT"
  nohup "$VENV/bin/evlog" server --port "$PORT" >"$STATE/server.log" 2>&1 &
  echo $! >"$STATE/server.pid"
  for _ in $(seq 1 300); do
    healthy "$URL" && break
    kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null || { cat "$STATE/server.log" >&2; exit 1; }
    sleep 0.1
  done
  healthy "$URL" || { echo "the demo server did not start (log: $STATE/server.log)" >&2; exit 1; }
  echo "$URL" >"$STATE/server.url"
fi

# the demo user: made once; its key is kept in $STATE/demo.key and reused while the server accepts it
valid_key() { [ -n "$1" ] && "$VENV/bin/python" -c "import sys, requests; sys.exit(0 if requests.get(sys.argv[1] + '/api/v1/auth/whoami', headers={'Authorization': 'Bearer ' + sys.argv[2]}, timeout=10).ok else 1)" "$URL" "$1" 2>/dev/null; }
KEY=$(cat "$STATE/demo.key" 2>/dev/null || true)
if ! valid_key "$KEY"; then
  KEY=$(evlog server users add demo 2>/dev/null | tail -n 1) || KEY=$(evlog server users key demo | tail -n 1)
  (umask 077 && echo "$KEY" >"$STATE/demo.key")
fi
evlog server projects set demo/demo --visibility open >/dev/null
# log in as the demo user (as `evlog login` does: the key is stored for this server, which becomes the
# default), so your own scripts log to this server with no variable set
echo "$KEY" | EVLOG_API_KEY= WANDB_API_KEY= evlog login --host "$URL" >/dev/null

# the sample runs, unless the server has them already: one logged live, one offline then synced
have_samples() { "$VENV/bin/python" - "$URL" "$KEY" <<'PYEOF'
import sys, requests
r = requests.get(sys.argv[1] + "/api/v1/runs/demo/demo", headers={"Authorization": "Bearer " + sys.argv[2]}, timeout=30)
names = {run.get("name") for run in r.json().get("runs", [])} if r.ok else set()
sys.exit(0 if {"live-lr-0.01", "offline-lr-0.03"} <= names else 1)
PYEOF
}
if have_samples; then
  echo "the sample runs are on the server already: not logged again" >&2
else
  export EVLOG_BASE_URL="$URL" EVLOG_API_KEY="$KEY" EVLOG_SILENT=true EVLOG_DIR="$RUNS"
  "$VENV/bin/python" examples/train.py --lr 0.01 --name "live-lr-0.01"
  EVLOG_MODE=offline "$VENV/bin/python" examples/train.py --lr 0.03 --name "offline-lr-0.03"
  evlog sync "$RUNS/evlog/latest-run"
fi

cat <<MSG

evlog is running: open the dashboard at

    $URL/demo/demo

Sign in (top right) with the demo user's API key to rename runs and see their code and git info:

    $KEY

You are logged in to this server as the demo user (\`evlog login\`): a script calling eventlog.init()
(or wandb.init() with \`import eventlog as wandb\`) logs its runs here, in demo/<project>.
Log more runs:   $VENV/bin/python examples/train.py --lr 0.02
The database:    $("$VENV/bin/python" -c "from eventlog.server.db import resolve_url; print(resolve_url())")
Stop the server: bash scripts/demo.sh stop
MSG
