#!/usr/bin/env bash
# The project's checks and tests: generated code up to date, buf lint, Prometheus rule tests,
# Grafana dashboard JSON up to date with dashboards/generate.py,
# ruff, mypy --strict, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r gen "$scratch/gen-before"
./scripts/gen-proto.sh
if ! diff -r -q -x __pycache__ "$scratch/gen-before" gen >/dev/null; then
  echo "gen/ is out of date with proto/: run scripts/gen-proto.sh and commit the result" >&2
  diff -r -x __pycache__ "$scratch/gen-before" gen | head -20 >&2
  exit 1
fi
(cd proto && ../node_modules/.bin/buf lint)
promtool test rules dashboards/prometheus/*.test.yml
python dashboards/generate.py --check  # committed Grafana JSON == generated
python -m ruff check .
python -m ruff format --check .
python -m mypy --explicit-package-bases server detectors graphs
python -m pytest -q "$@"
