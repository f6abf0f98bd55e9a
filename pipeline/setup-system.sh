#!/usr/bin/env bash
# The system packages the build needs, checked in the first second of `make setup` (and so of
# `make graph`, `make test`, `make bench` and `.ci/run`) instead of ten minutes into a compile:
#   libclang-dev  bindgen, for Oxigraph's RocksDB bindings (the build fails late without it)
#   g++           the C/C++ compiler the -sys crates (RocksDB, oniguruma, zstd, lz4) build with
#   make          this Makefile
#   python3, python3-venv   the venv that holds PyTorch (libtorch for tch)
#   chromium, nodejs (node + npm)   the browser test of `cbrrel serve`'s page (playwright-core
#                 from tests/browser/package-lock.json drives Debian's chromium)
#   fonts-noto-cjk  Chinese glyphs in that test's screenshots
#   xz-utils      the GPU check's pack (pipeline/gpu_pack.sh) and its test
# Missing packages are installed with apt-get when running as root; otherwise the script stops
# with the one apt-get command to run. Rust itself is not an apt package: rustup installs it.
#
# For tests: CBRREL_INSTALLED_PACKAGES=FILE (one package name per line) replaces the dpkg
# database, and CBRREL_SETUP_CHECK_ONLY=1 never installs, only reports.
set -euo pipefail

packages=(libclang-dev g++ make python3 python3-venv chromium nodejs fonts-noto-cjk xz-utils)

# What each package provides, checked by capability where a non-Debian build of the tool can
# stand in (pyenv's python3, a compiler from elsewhere), by the dpkg database otherwise.
installed() {
  if [ -n "${CBRREL_INSTALLED_PACKAGES:-}" ]; then
    grep -qxF "$1" "$CBRREL_INSTALLED_PACKAGES"
    return
  fi
  case "$1" in
    libclang-dev)
      dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'libclang*-dev' 2>/dev/null \
        | grep -qE '^ii +libclang(-[0-9]+)?-dev$' ;;
    g++) command -v g++ >/dev/null 2>&1 || command -v c++ >/dev/null 2>&1 ;;
    make) command -v make >/dev/null 2>&1 ;;
    python3) command -v python3 >/dev/null 2>&1 ;;
    python3-venv) python3 -c 'import ensurepip, venv' >/dev/null 2>&1 ;;
    chromium) command -v chromium >/dev/null 2>&1 ;;
    nodejs) command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ;;
    xz-utils) command -v xz >/dev/null 2>&1 ;;
    *) dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii' ;;
  esac
}

missing=()
for pkg in "${packages[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  command_line="apt-get install -y ${missing[*]}"
  if [ "$(id -u)" -eq 0 ] && [ -z "${CBRREL_SETUP_CHECK_ONLY:-}" ]; then
    echo "setup: installing missing system packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    prefix="sudo "
    [ "$(id -u)" -eq 0 ] && prefix=""
    {
      echo "setup: missing system packages the build needs: ${missing[*]}"
      echo "setup: install them first with:"
      echo "    ${prefix}apt-get update && ${prefix}${command_line}"
    } >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: no Rust toolchain (cargo) on PATH; install it with rustup: https://rustup.rs" >&2
  exit 1
fi
for component in fmt clippy; do
  if ! cargo "$component" --version >/dev/null 2>&1; then
    echo "setup: cargo $component is missing (make lint needs it); install it with:" \
      "rustup component add $( [ "$component" = fmt ] && echo rustfmt || echo clippy)" >&2
    exit 1
  fi
done
