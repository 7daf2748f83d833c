#!/usr/bin/env bash
# How far the spool's syncs hold policy-relayd below the direct limit (issues 2 and 7): builds
# policy-relayd from this checkout's HEAD in a temporary git worktree, once as it is and once
# with each MEASUREMENT-ONLY patch of benchmarks/experiments/ applied, and runs run.sh's
# direct and relayd rows (policy chain off) against each build. A wave is the commits that
# arrive together:
#   durable                 as shipped: file fdatasync, rename, one directory fsync per wave
#   writeback-flush-marks   spool-writeback-one-flush-marks.patch: every file of the wave
#                           written back, one flush, renames not synced, plus the I/O of a
#                           "finished" mark per delivered message (NOT durable as patched: what
#                           a commit-recorded-in-the-file spool would cost, roughly)
#   writeback-flush         spool-writeback-one-flush.patch: the same without the marks
#   one-flush-per-wave      spool-one-flush-per-wave.patch: one fdatasync of one file per wave
#                           (NOT durable: the least one flush per wave can cost)
#   no-sync                 spool-no-sync.patch: no sync at all (NOT durable: the CPU ceiling)
# Prints each row's msg/s beside the direct limit measured in the same run.sh invocation.
# The patched builds never leave the temporary directory.
set -euo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RUNS=3
FS_IMAGE_ARG=()
NICE_ARG=()
RESULTS=""

usage() {
  cat <<EOF
usage: $0 [--runs N] [--fs-image SIZE] [--nice N] [--results FILE]
  --runs N          runs per row and build, median reported (default $RUNS)
  --fs-image SIZE   passed to run.sh (spools on a fresh journaled ext4 image; root)
  --nice N          passed to run.sh (root)
  --results FILE    also write every run's JSON line there (a "build" field added)
Builds take a few minutes (Release, both cores); the runs about 15 s per build and run.
The direct limit itself moves by about 10 % between invocations: compare each row with the
direct figure beside it.
EOF
}

while [ $# -gt 0 ]; do
  case $1 in
  --runs) RUNS=${2:?--runs needs a value}; shift 2 ;;
  --fs-image) FS_IMAGE_ARG=(--fs-image "${2:?--fs-image needs a value}"); shift 2 ;;
  --nice) NICE_ARG=(--nice "${2:?--nice needs a value}"); shift 2 ;;
  --results) RESULTS=${2:?--results needs a value}; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
  esac
done

REPO=$(git -C "$BENCH_DIR" rev-parse --show-toplevel)
SCRATCH=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/policy-relay-ceiling.XXXXXX")
TREE="$SCRATCH/tree"
cleanup_ceiling() {
  git -C "$REPO" worktree remove --force "$TREE" >/dev/null 2>&1 || true
  rm -rf "$SCRATCH"
}
trap cleanup_ceiling EXIT

git -C "$REPO" worktree add --detach "$TREE" HEAD >/dev/null
cmake -S "$TREE" -B "$TREE/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$SCRATCH/cmake.log" 2>&1 ||
  die "cmake failed: see $SCRATCH/cmake.log"

# build LABEL [PATCH]: the relay (and smtp-load, which run.sh wants beside it) into $SCRATCH/LABEL.
build() {
  local label=$1 patch=${2:-}
  git -C "$TREE" checkout --quiet -- .
  if [ -n "$patch" ]; then
    git -C "$TREE" apply "$BENCH_DIR/experiments/$patch" || die "$patch does not apply to HEAD"
  fi
  log "building $label"
  cmake --build "$TREE/build" -j"$(nproc)" --target policy-relayd smtp-load \
    >"$SCRATCH/build-$label.log" 2>&1 || die "build of $label failed: see $SCRATCH/build-$label.log"
  mkdir -p "$SCRATCH/$label"
  cp "$TREE/build/policy-relayd" "$TREE/build/smtp-load" "$SCRATCH/$label/"
}

BUILDS=(durable writeback-flush-marks writeback-flush one-flush-per-wave no-sync)
build durable
build writeback-flush-marks spool-writeback-one-flush-marks.patch
build writeback-flush spool-writeback-one-flush.patch
build one-flush-per-wave spool-one-flush-per-wave.patch
build no-sync spool-no-sync.patch

: >"$SCRATCH/all.jsonl"
for label in "${BUILDS[@]}"; do
  log "measuring $label"
  "$BENCH_DIR/run.sh" --only direct,relayd --connections 4 --policy off --runs "$RUNS" \
    "${FS_IMAGE_ARG[@]}" "${NICE_ARG[@]}" --relayd "$SCRATCH/$label/policy-relayd" \
    --results "$SCRATCH/$label.jsonl" >"$SCRATCH/$label.out" 2>&1 ||
    die "run.sh failed for $label: $(tail -5 "$SCRATCH/$label.out")"
  "$PY" -c 'import json,sys
for line in open(sys.argv[1]):
    run = json.loads(line); run["build"] = sys.argv[2]; print(json.dumps(run))' \
    "$SCRATCH/$label.jsonl" "$label" >>"$SCRATCH/all.jsonl"
done
if [ -n "$RESULTS" ]; then cp "$SCRATCH/all.jsonl" "$RESULTS"; fi

"$PY" - "$SCRATCH/all.jsonl" "${BUILDS[@]}" <<'EOF'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
print("| build | relay msg/s | direct msg/s (same invocation) | relay / direct | relay CPU s |")
print("|---|---|---|---|---|")
for build in sys.argv[2:]:
    mine = [r for r in runs if r["build"] == build]
    direct = statistics.median(r["msgs_per_s"] for r in mine if "directly" in r["scenario"])
    relay = [r for r in mine if "policy-relayd" in r["scenario"]]
    rate = statistics.median(r["msgs_per_s"] for r in relay)
    cpu = statistics.median(r.get("relay_cpu_s") or 0 for r in relay)
    print(f"| {build} | {rate:,.0f} | {direct:,.0f} | {100 * rate / direct:.1f} % | {cpu:.2f} |")
EOF
