#!/usr/bin/env bash
# Regenerates the Python code of proto/ into gen/ (the one documented step; never edit gen/ by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf gen/engagewatch
mkdir -p gen
python -m grpc_tools.protoc -I proto --python_out=gen --pyi_out=gen --grpc_python_out=gen \
  proto/engagewatch/v1/*.proto
touch gen/engagewatch/__init__.py gen/engagewatch/v1/__init__.py
