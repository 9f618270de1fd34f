#!/usr/bin/env bash
# GPU server set-up for `make bench`: two environments (torch engines + runner; Paddle),
# the harness configuration pointing PaddleOCR at its own interpreter (env/server/suite.yaml,
# env/local.mk). A server without a GPU needs none of this: plain `make bench`.
#
#   env/server/setup.sh            build .venv-server and .venv-server-paddle, write the config
#   env/server/setup.sh --check    report the GPU, driver, CUDA and environments only
#
# Pins: env/server/requirements-*.txt. Not yet run on a GPU server by this project.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
PYTHON=${PYTHON:-python3}
main_env=$repo/.venv-server
paddle_env=$repo/.venv-server-paddle

say() { printf '%s\n' "$*" >&2; }
say "GPU: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo 'none found by nvidia-smi')"
for env in "$main_env" "$paddle_env"; do
  if [ -x "$env/bin/python" ]; then say "env $env: $("$env/bin/python" --version 2>&1)"; else say "env $env: missing"; fi
done
[ "${1:-}" = --check ] && exit 0
[ $# -eq 0 ] || { say "unknown option $1"; exit 2; }

"$repo/env/install-system.sh"
for env in "$main_env" "$paddle_env"; do
  [ -x "$env/bin/python" ] || "$PYTHON" -m venv "$env"
done
"$main_env/bin/python" -m pip install -q --disable-pip-version-check \
  -r env/requirements-runner.txt -r env/server/requirements-cuda.txt \
  -r env/requirements-report.txt -r env/requirements-dev.txt
# RapidOCR without its dependency on the CPU onnxruntime (onnxruntime-gpu is there)
"$main_env/bin/python" -m pip install -q --disable-pip-version-check --no-deps rapidocr_onnxruntime==1.4.4 \
  pyclipper==1.4.0 shapely==2.2.0 six==1.17.0
"$paddle_env/bin/python" -m pip install -q --disable-pip-version-check \
  -r env/requirements-runner.txt -r env/server/requirements-paddle-cuda.txt

"$main_env/bin/python" -m bench suite --out env/server/suite.yaml --python "paddleocr=$paddle_env/bin/python"
cat > env/local.mk <<EOM
# Written by env/server/setup.sh: the server's environments; nothing is pip-installed by make.
VENV  := $main_env
DEPS  :=
SUITE := env/server/suite.yaml
EOM
say "done: make bench"
