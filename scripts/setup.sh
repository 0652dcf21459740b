#!/usr/bin/env bash
# Set-up from nothing: npm dependencies, MPICH (multi-GPU training), plus a Vulkan loader and driver
# when no usable adapter exists.
#
#   bash scripts/setup.sh                   # idempotent; skips what is already there
#   bash scripts/setup.sh --tests           # also what the tests need: PyTorch for the reference cases, chromium
#   bash scripts/setup.sh --allow-software  # a GPU is here but has no Vulkan driver: go on with lavapipe (CPU)
#   bash scripts/setup.sh --dry-run         # install nothing; say what would be installed
#   SEGFACE_SETUP_NO_APT=1 ...              # never touch system packages (fail with advice instead)
#
# Dawn (npm `webgpu`) needs a Vulkan 1.1 driver. On a machine without a GPU that is Mesa's lavapipe,
# and Dawn rejects Debian bookworm's Mesa 22: Mesa >= 25 comes from bookworm-backports. On a machine
# with a GPU (nvidia-smi, /dev/nvidia*, or an AMD/Intel render node in /dev/dri) the set-up insists on
# a hardware adapter: when Dawn offers none it stops, saying what is missing and how to fix it, rather
# than train on the CPU unnoticed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
want_tests=0
allow_software=0
dry_run=0
for arg in "$@"; do
  case "$arg" in
    --tests) want_tests=1 ;;
    --allow-software) allow_software=1 ;;
    --dry-run) dry_run=1 ;;
    *) printf 'setup: error: unknown option %s (known: --tests, --allow-software, --dry-run)\n' "$arg" >&2; exit 2 ;;
  esac
done
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
# Runs an installing command, or with --dry-run only says what it would run.
install() {
  if [ "$dry_run" = 1 ]; then say "dry run: would run: $*"; return 0; fi
  "$@"
}

# ---- Node and npm packages -------------------------------------------------------------------
command -v node >/dev/null || die "Node.js 20+ is not installed (Debian: apt-get install nodejs, or use nodesource)."
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $node_major found; this project needs Node 20 or newer."
if [ ! -d node_modules/webgpu ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm dependencies missing or older than package-lock.json: installing them"
  # `npm install` (which follows package-lock.json) rather than `npm ci`: vite 8 lists an optional
  # dependency that the registry does not serve, which `npm ci` treats as an out-of-sync lock file.
  install npm install --no-audit --no-fund
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
elif [ "$dry_run" = 1 ]; then
  say "dry run: would run: apt-get install --no-install-recommends mpich"
else
  say "installing MPICH for multi-GPU training (--devices N)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq --no-install-recommends mpich >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends mpich >/dev/null; }; } \
    || say "warning: apt-get install mpich failed; --devices N needs it"
fi

# ---- GPUs in this machine ----------------------------------------------------------------------
# What the machine has, whatever its drivers: nvidia-smi, NVIDIA's device files, and DRM render nodes
# whose PCI vendor is NVIDIA (0x10de), AMD (0x1002) or Intel (0x8086). Virtual display adapters
# (virtio-gpu 0x1af4, QXL 0x1b36, bochs 0x1234, VMware 0x15ad) are not compute GPUs and do not count.
# SEGFACE_SETUP_HOST_ROOT prefixes every path read here (/dev, /sys, /proc, the Vulkan ICD and
# library folders); only the tests set it, to a fake tree.
root=${SEGFACE_SETUP_HOST_ROOT:-}
gpu_vendors=" "       # " nvidia amd intel ", each at most once
gpu_found=()          # one description per GPU, for the messages
nvidia_driver=""      # the kernel driver's version
LIB_DIRS="/usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib /usr/local/nvidia/lib64 /usr/local/nvidia/lib"
ICD_DIRS="/etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d"

add_gpu() { [[ "$gpu_vendors" == *" $1 "* ]] || gpu_vendors+="$1 "; gpu_found+=("$2"); }
has_gpu() { [[ "$gpu_vendors" == *" $1 "* ]]; }

detect_gpus() {
  if command -v nvidia-smi >/dev/null; then
    local name version
    while IFS=, read -r name version; do
      [ -n "$name" ] || continue
      version=${version# }
      add_gpu nvidia "$name, driver $version"
      nvidia_driver=$version
    done < <(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true)
  fi
  if [ -z "$nvidia_driver" ] && [ -r "$root/proc/driver/nvidia/version" ]; then
    nvidia_driver=$(grep -o 'Kernel Module *[0-9.]*' "$root/proc/driver/nvidia/version" | awk '{print $NF}' || true)
  fi
  if [ -z "$nvidia_driver" ] && [ -r "$root/sys/module/nvidia/version" ]; then nvidia_driver=$(cat "$root/sys/module/nvidia/version"); fi
  if ! has_gpu nvidia; then
    local dev
    for dev in "$root"/dev/nvidia[0-9]*; do
      [ -e "$dev" ] || continue
      add_gpu nvidia "NVIDIA GPU ${dev#"$root"}${nvidia_driver:+, driver $nvidia_driver}"
      break
    done
  fi
  local node vendor
  for node in "$root"/dev/dri/renderD*; do
    [ -e "$node" ] || continue
    vendor=$(cat "$root/sys/class/drm/${node##*/}/device/vendor" 2>/dev/null || true)
    case "$vendor" in
      0x10de) has_gpu nvidia || add_gpu nvidia "NVIDIA GPU, render node ${node#"$root"}" ;;
      0x1002) add_gpu amd "AMD GPU, render node ${node#"$root"}" ;;
      0x8086) add_gpu intel "Intel GPU, render node ${node#"$root"}" ;;
    esac
  done
}

# The first file under the ICD folders (and VK_DRIVER_FILES / VK_ICD_FILENAMES) matching a pattern.
find_icd() {
  local d f
  local files="${VK_DRIVER_FILES:-}:${VK_ICD_FILENAMES:-}"
  for f in ${files//:/ }; do
    case "${f##*/}" in $1) [ -e "$f" ] && { echo "$f"; return; } ;; esac
  done
  for d in $ICD_DIRS; do
    for f in "$root$d"/$1; do [ -e "$f" ] && { echo "${f#"$root"}"; return; }; done
  done
}
# The first library under the usual folders matching a pattern.
find_lib() {
  local d f
  for d in $LIB_DIRS; do
    for f in "$root$d"/$1; do [ -e "$f" ] && { echo "${f#"$root"}"; return; }; done
  done
}
in_container() { [ -e "$root/.dockerenv" ] || [ -e "$root/run/.containerenv" ] || [ -n "${NVIDIA_VISIBLE_DEVICES:-}" ] || [ -n "${KUBERNETES_SERVICE_HOST:-}" ]; }

# What is missing for NVIDIA's Vulkan driver and how to fix it, as lines of one message.
nvidia_advice() {
  local icd lib libver loader caps major=${nvidia_driver%%.*}
  icd=$(find_icd 'nvidia_icd*.json')
  lib=$(find_lib 'libGLX_nvidia.so.[0-9]*.*')
  [ -n "$lib" ] || lib=$(find_lib 'libnvidia-vulkan*.so*')
  loader=$(find_lib 'libvulkan.so.1')
  libver=$(sed -n 's/.*\.so\.\([0-9][0-9.]*[0-9]\)$/\1/p' <<< "$lib")
  echo "  missing: NVIDIA's Vulkan driver, which Dawn needs (CUDA alone is not enough):"
  echo "    - the Vulkan ICD file nvidia_icd.json: ${icd:-not found in $ICD_DIRS}"
  if [ -z "$lib" ]; then
    echo "    - the driver's Vulkan library libGLX_nvidia.so.${nvidia_driver:-VERSION} (or libnvidia-vulkan), same version as the kernel driver ${nvidia_driver:-(unknown)}: not found"
  elif [ -n "$nvidia_driver" ] && [ -n "$libver" ] && [ "$libver" != "$nvidia_driver" ]; then
    echo "    - the driver's Vulkan library must match the kernel driver: found $lib (version $libver), kernel driver $nvidia_driver"
  else
    echo "    - the driver's Vulkan library: $lib (version ${libver:-?}; the kernel driver is ${nvidia_driver:-?})"
  fi
  [ -n "$loader" ] || echo "    - the Vulkan loader libvulkan.so.1: not found (apt-get install libvulkan1)"
  caps=${NVIDIA_DRIVER_CAPABILITIES-}
  if in_container; then echo "  fix, in this container:"; else echo "  fix, in a container:"; fi
  if [ -n "$caps" ]; then caps="it is \"$caps\""; else caps="unset, which means compute,utility"; fi
  echo "    NVIDIA_DRIVER_CAPABILITIES must include graphics ($caps); start the container with"
  echo "      docker run --gpus all -e NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics ...   (Kubernetes: the same env in the pod spec)"
  echo "    so that the NVIDIA container toolkit mounts the host driver's nvidia_icd.json and libGLX_nvidia."
  echo "  fix, on a host: install the Vulkan part of NVIDIA driver ${nvidia_driver:-VERSION}, the same version as the kernel module:"
  echo "      Debian: apt-get install nvidia-vulkan-icd libvulkan1   Ubuntu: apt-get install libnvidia-gl-${major:-VERSION} libvulkan1   or NVIDIA's .run installer ${nvidia_driver:-of that version}"
}

# The same for AMD and Intel: Mesa's RADV / ANV, which Debian packages with lavapipe.
mesa_advice() {
  local which=$1 icd=$2 driver=$3 found node
  found=$(find_icd "$icd")
  if [ -z "$found" ]; then
    echo "  missing: a Vulkan driver for the $which GPU: Mesa >= 25's $driver (its ICD file $icd is not in $ICD_DIRS)"
  else
    echo "  missing: a working Vulkan driver for the $which GPU: $driver is installed ($found) but Dawn does not offer it; Dawn needs Mesa >= 25 and access to the render node"
  fi
  echo "  fix (Debian bookworm, as root): add bookworm-backports to apt's sources, then"
  echo "      apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1"
  for node in "$root"/dev/dri/renderD*; do
    [ -e "$node" ] && { [ -r "$node" ] && [ -w "$node" ] || echo "  also: ${node#"$root"} is not readable and writable by $(id -un): add the user to its group (usermod -aG render $(id -un))"; }
  done
  echo "  fix, in a container: pass the render node in: docker run --device /dev/dri ..."
}

gpu_missing_message() {
  local seen=$1 joined
  joined=$(printf '%s; ' "${gpu_found[@]}")
  echo "this machine has a GPU (${joined%; }) but Dawn offers no hardware WebGPU adapter for it (it offers ${seen:-none}), so everything would run on the CPU."
  if has_gpu nvidia; then nvidia_advice; fi
  if has_gpu amd; then mesa_advice AMD 'radeon_icd*.json' RADV; fi
  if has_gpu intel; then mesa_advice Intel 'intel_icd*.json' ANV; fi
  echo "  then check: bash scripts/setup.sh   (npm run devices lists what Dawn sees)"
  echo "  to go on without the GPU, on the CPU through lavapipe (far slower): bash scripts/setup.sh --allow-software"
}

# ---- Vulkan adapter ----------------------------------------------------------------------------
probe() { node scripts/probe-adapter.mjs "$@" 2>/dev/null; }
# Debian's chromium for the browser tests (tests/web: the page on Chromium's WebGPU, driven by
# puppeteer-core; no browser download). About 100 MB without recommends.
browser_for_tests() {
  if [ -x /usr/bin/chromium ]; then say "chromium present ($(/usr/bin/chromium --version 2>/dev/null))"; return; fi
  if [ -n "${SEGFACE_SETUP_NO_APT:-}" ] || [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "the browser tests need Debian's chromium at /usr/bin/chromium: apt-get install --no-install-recommends chromium"
  fi
  if [ "$dry_run" = 1 ]; then say "dry run: would run: apt-get install --no-install-recommends chromium"; return; fi
  say "installing chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; } \
    || die "apt-get install chromium failed (the browser tests need it)"
}
finish() {
  if [ "$want_tests" = 1 ]; then install bash tools/reference/setup.sh; browser_for_tests; fi
  exit 0
}
detect_gpus
adapters=$(probe || true)
if [ "$gpu_vendors" != " " ]; then
  say "GPU in this machine: $(printf '%s; ' "${gpu_found[@]}" | sed 's/; $//')"
  if hardware=$(probe --hardware); then
    say "a hardware WebGPU adapter is available: $(head -1 <<< "$hardware")"
    finish
  fi
  [ "$allow_software" = 1 ] || die "$(gpu_missing_message "$(paste -sd ';' <<< "$adapters")")"
  say "warning: --allow-software: Dawn offers no adapter for the GPU; going on with a software adapter (lavapipe, on the CPU, far slower)"
fi
if [ -n "$adapters" ]; then
  say "a WebGPU adapter is available: $(head -1 <<< "$adapters")"
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
if [ "$dry_run" = 1 ]; then
  say "dry run: would add bookworm-backports to apt's sources and run: apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1"
  finish
fi

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
adapter_line=$(probe) || die "Mesa installed but Dawn still finds no adapter ($(node scripts/probe-adapter.mjs 2>&1 | tail -1)); $advice"
say "adapter ready: $(head -1 <<< "$adapter_line")"
finish
