#!/bin/sh
# Installs the Debian packages adaopt's build, demo and tests need, if any is missing.
# Safe to run again: does nothing when all are present.
set -eu
packages="cmake make gcc clang libomp-dev libclang-rt-14-dev pkg-config libcmocka-dev zlib1g-dev gnuplot-nox valgrind python3-numpy python3-torch python3-venv libopenmpi-dev openmpi-bin \
  lld wasi-libc libclang-rt-14-dev-wasm32 chromium"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js and npm for the web page: Debian's nodejs and npm, unless a node with npm is there.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
if [ "$(id -u)" -eq 0 ]; then
    apt_get="apt-get"
elif command -v sudo >/dev/null 2>&1; then
    apt_get="sudo apt-get"
else
    echo "install-deps: need root (or sudo) to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$apt_get update -qq
$apt_get install -y -qq --no-install-recommends $missing >/dev/null
