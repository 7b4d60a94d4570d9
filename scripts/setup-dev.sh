#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine (run as root or with sudo):
# Debian's clickhouse-server (the tests start their own instance), prometheus (for promtool),
# the Python package with its dev extras, and buf (from npm) for linting proto/.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_apt=()
installed() { dpkg -s "$1" >/dev/null 2>&1; }
installed clickhouse-server || need_apt+=(clickhouse-server clickhouse-client)
command -v npm >/dev/null || need_apt+=(npm)
installed prometheus || need_apt+=(prometheus)  # promtool, and the server tests/dashboards/ runs
# /usr/bin/prometheus-alertmanager: tests/server/test_alertmanager.py starts its own on loopback.
installed prometheus-alertmanager || need_apt+=(prometheus-alertmanager)
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
# The Debian package may start a system server on 9000; the tests start their own on free ports.

python -m pip install -q -e '.[dev]'
npm ci --silent --no-audit --no-fund  # buf, pinned in package.json / package-lock.json
