#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs them. README's test command.
# System packages (PostgreSQL for the server suite) come from apt when missing; Python packages
# go into .venv (the frameworks extra: torch 2.13 CPU, transformers, Lightning, accelerate, optuna for
# tests/integrations/test_frameworks.py). Extra arguments are passed to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v chromium >/dev/null || need_apt+=(chromium)  # the dashboard's browser tests
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "scripts/test.sh: installing ${need_apt[*]} with apt-get" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "scripts/test.sh: missing ${need_apt[*]} (not root: the PostgreSQL / browser tests will be skipped)" >&2
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test,server,frameworks]'
exec .venv/bin/python -m pytest "$@"
