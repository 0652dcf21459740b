#!/usr/bin/env bash
# Set-up from nothing: npm dependencies, MPICH (multi-GPU training), plus a Vulkan loader and driver
# when no usable adapter exists.
#
#   bash scripts/setup.sh            # idempotent; skips what is already there
#   bash scripts/setup.sh --tests    # also what the tests need: PyTorch for the reference cases, chromium
#   SEGFACE_SETUP_NO_APT=1 ...       # never touch system packages (fail with advice instead)
#
# Dawn (npm `webgpu`) needs a Vulkan 1.1 driver. On a machine without a GPU that is Mesa's lavapipe,
# and Dawn rejects Debian bookworm's Mesa 22: Mesa >= 25 comes from bookworm-backports.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
want_tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) want_tests=1 ;;
    *) printf 'setup: error: unknown option %s (known: --tests)\n' "$arg" >&2; exit 2 ;;
  esac
done
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# ---- Node and npm packages -------------------------------------------------------------------
command -v node >/dev/null || die "Node.js 20+ is not installed (Debian: apt-get install nodejs, or use nodesource)."
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $node_major found; this project needs Node 20 or newer."
if [ ! -d node_modules/webgpu ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  # `npm install` (which follows package-lock.json) rather than `npm ci`: vite 8 lists an optional
  # dependency that the registry does not serve, which `npm ci` treats as an out-of-sync lock file.
  npm install --no-audit --no-fund
else
  say "npm dependencies present"
fi

# ---- MPI, for data-parallel training (`npm run train -- --devices N`) ----------------------------
# MPICH's launcher and library, about 45 MB without recommends, so `--devices N` works out of the
# box (and the multi-rank tests run). Single-device training does not need it: failing to
# install it only warns.
mpi_ok() { command -v mpiexec >/dev/null && node -e "require('koffi').load('libmpich.so.12')" >/dev/null 2>&1; }
if mpi_ok; then
  say "MPI present ($(command -v mpiexec))"
elif [ -n "${SEGFACE_SETUP_NO_APT:-}" ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  say "warning: MPICH is not installed; multi-GPU training (--devices N) needs it: apt-get install mpich"
else
  say "installing MPICH for multi-GPU training (--devices N)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq --no-install-recommends mpich >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends mpich >/dev/null; }; } \
    || say "warning: apt-get install mpich failed; --devices N needs it"
fi

# ---- Vulkan adapter ----------------------------------------------------------------------------
adapter_ok() { node scripts/probe-adapter.mjs >/dev/null 2>&1; }
# Debian's chromium for the browser tests (tests/web: the page on Chromium's WebGPU, driven by
# puppeteer-core; no browser download). About 100 MB without recommends.
browser_for_tests() {
  if [ -x /usr/bin/chromium ]; then say "chromium present ($(/usr/bin/chromium --version 2>/dev/null))"; return; fi
  if [ -n "${SEGFACE_SETUP_NO_APT:-}" ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "the browser tests need Debian's chromium at /usr/bin/chromium: apt-get install --no-install-recommends chromium"
  fi
  say "installing chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
    || die "apt-get install chromium failed (the browser tests need it)"
}
finish() {
  if [ "$want_tests" = 1 ]; then bash tools/reference/setup.sh; browser_for_tests; fi
  exit 0
}
if adapter_ok; then
  say "a WebGPU adapter is available: $(node scripts/probe-adapter.mjs 2>/dev/null)"
  finish
fi

say "no usable WebGPU adapter; installing a Vulkan loader and Mesa's lavapipe (>= 25)"
advice="install a Vulkan driver yourself: on Debian bookworm as root, add bookworm-backports to apt's sources and run
  apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1
(or install your GPU vendor's Vulkan driver), then rerun: bash scripts/setup.sh"
[ -z "${SEGFACE_SETUP_NO_APT:-}" ] || die "SEGFACE_SETUP_NO_APT is set; $advice"
[ "$(id -u)" = 0 ] || die "not root, so cannot apt-get install; $advice"
command -v apt-get >/dev/null || die "apt-get not found (not Debian); $advice"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || die "this is ${PRETTY_NAME:-an unknown OS}, not Debian bookworm; $advice"

backports=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  say "adding bookworm-backports to apt's sources ($backports)"
  cat > "$backports" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || die "apt-get update failed; $advice"
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null \
  || die "apt-get install of mesa-vulkan-drivers from bookworm-backports failed; $advice"
adapter_ok || die "Mesa installed but Dawn still finds no adapter ($(node scripts/probe-adapter.mjs 2>&1 | tail -1)); $advice"
say "adapter ready: $(node scripts/probe-adapter.mjs)"
finish
