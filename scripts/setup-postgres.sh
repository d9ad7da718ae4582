#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries (initdb, pg_ctl, postgres) are installed, from Debian's
# `postgresql` package when they are missing. The server tests start their own throwaway cluster
# with them (as the `postgres` user when run as root); nothing is started or configured here.
set -euo pipefail

have_pg() {
  command -v initdb >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

if have_pg; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-postgres: PostgreSQL is missing and this is not a Debian-like system: install its server binaries" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# a policy-rc.d keeps the package from starting the system cluster (the tests run their own);
# one already there is left as it is
made_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  $SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
  made_policy=1
fi
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
if [ -n "$made_policy" ]; then
  $SUDO rm -f /usr/sbin/policy-rc.d
fi
if ! have_pg; then
  echo "setup-postgres: postgresql was installed but initdb is not found" >&2
  exit 1
fi
