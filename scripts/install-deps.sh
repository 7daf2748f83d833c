#!/usr/bin/env bash
# Installs every Debian 12 package policy-relay needs to build, run and test.
# Idempotent; run as root (or through sudo). See README "Quick start".
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  exec sudo "$0" "$@"
fi

export DEBIAN_FRONTEND=noninteractive
# postfix is installed only for smtp-source/smtp-sink; never configure its daemon.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

packages=(
  build-essential cmake pkg-config ninja-build
  libboost1.81-dev libboost-json1.81-dev
  libssl-dev libspdlog-dev libfmt-dev libtomlplusplus-dev libmimetic-dev doctest-dev
  libsystemd-dev libbenchmark-dev libhiredis-dev libgoogle-perftools-dev
  clang-format
  postfix swaks libnet-ssleay-perl python3 python3-aiosmtpd
  openssl procps psmisc time
  redis-server haproxy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# redis-server and haproxy are for the tests, which start their own processes on ports picked at
# run time: a package must not start its system-wide daemon on a fixed port while it installs.
# policy-rc.d (exit 101 = "not allowed") does that for the length of the install only, and an
# existing policy-rc.d (Docker images have one) is left as it was. Services that were already
# installed and running are not touched.
restore_policy_rc=""
if [ "${#missing[@]}" -gt 0 ]; then
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    restore_policy_rc=yes
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
if [ -n "$restore_policy_rc" ]; then
  rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi

# The postfix package may try to start its daemon; the relay's tests never use it.
if command -v postfix >/dev/null 2>&1; then
  postfix stop >/dev/null 2>&1 || true
fi

# Haraka from the npm registry, for the benchmark's comparison row (benchmarks/matrix.sh) only:
# no test uses it, so a failure here is reported and does not stop the install. Pinned, in its
# own prefix (/opt/haraka/node_modules/.bin/haraka), never on PATH; needs Node.js >= 20 (the
# machine's; Debian 12's nodejs is 18).
HARAKA_VERSION=3.3.4
HARAKA_PREFIX=/opt/haraka
haraka_installed() {
  node -e "process.exit(require('$HARAKA_PREFIX/node_modules/Haraka/package.json').version === '$HARAKA_VERSION' ? 0 : 1)" 2>/dev/null
}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: no node/npm: Haraka $HARAKA_VERSION not installed (benchmarks/matrix.sh skips its row)" >&2
elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "install-deps: Node.js $(node --version) < 20: Haraka $HARAKA_VERSION not installed" >&2
elif ! haraka_installed; then
  mkdir -p "$HARAKA_PREFIX"
  if ! npm install --prefix "$HARAKA_PREFIX" --no-audit --no-fund --loglevel=error \
    "Haraka@$HARAKA_VERSION" || ! haraka_installed; then
    echo "install-deps: warning: npm install Haraka@$HARAKA_VERSION into $HARAKA_PREFIX failed" >&2
  fi
fi
