#!/usr/bin/env bash
# Installs what tools/reference/ needs: Debian's PyTorch 1.13 and torchvision 0.14 with OpenBLAS
# (the reference BLAS is ~30x slower), plus numpy, Pillow and OpenCV (cv2.imread's PNG reading:
# the CelebAMask-HQ mask test). Idempotent.
#   bash tools/reference/setup.sh
# Run the generator with OMP_WAIT_POLICY=PASSIVE (torch's OpenMP threads otherwise spin against
# OpenBLAS's on small machines).
set -euo pipefail
PY=/usr/bin/python3
if [ -x "$PY" ] && "$PY" -c 'import torch, torchvision, numpy, PIL, cv2' 2>/dev/null; then
  echo "reference: python3-torch $("$PY" -c 'import torch; print(torch.__version__)') present"
  exit 0
fi
advice="install Debian's python3-torch python3-torchvision python3-numpy python3-pil python3-opencv libopenblas0-pthread (apt-get, as root)"
[ "$(id -u)" = 0 ] || { echo "reference: error: not root; $advice" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "reference: error: apt-get not found; $advice" >&2; exit 1; }
echo "reference: installing python3-torch, python3-torchvision, OpenCV, OpenBLAS (a few minutes)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3-torch python3-torchvision python3-numpy python3-pil python3-opencv libopenblas0-pthread >/dev/null
"$PY" -c 'import torch, torchvision; print("reference: torch", torch.__version__, "torchvision", torchvision.__version__)'
