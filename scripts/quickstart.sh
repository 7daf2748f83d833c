#!/usr/bin/env bash
# README's first command: installs the Debian packages, builds, and starts policy-relayd in the
# foreground on its first-run config (conf/policy-relay.toml: 127.0.0.1:2525, delivered mail
# written to run/outbox/ as .eml files). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPOLICY_RELAY_TESTS=OFF
cmake --build build -j"$(nproc)"
mkdir -p run/spool run/outbox

cat <<'MSG'

policy-relayd is starting on 127.0.0.1:2525 (config: conf/policy-relay.toml).
From another terminal, send a message:
  swaks --server 127.0.0.1:2525 --from a@edomex.gob.mx --to b@example.org
and find it in run/outbox/ (ID.eml and ID.envelope.json). Ctrl-C stops the relay.

MSG
exec build/policy-relayd --config conf/policy-relay.toml
