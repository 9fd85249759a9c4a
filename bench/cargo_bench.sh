#!/usr/bin/env bash
# Wall time of a whole test run (build excluded: every build is warmed up first) for
# cargo-maelstrom against `cargo test` and `cargo nextest run`, on the fixture workspace and on
# real crates fetched from crates.io. Run by hand (not in CI):
#   bench/cargo_bench.sh [BUILD_DIR]         (default: build)
# Environment: RUNS (default 3, the median is reported), CRATES (default "semver@1.0.23 regex-syntax@0.8.5 smallvec@1.13.2"),
# SKIP_NEXTEST=1 to leave cargo-nextest out.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
RUNS="${RUNS:-3}"
CRATES="${CRATES:-semver@1.0.23 regex-syntax@0.8.5 smallvec@1.13.2}"
export PATH="$BUILD/bin:$PATH"
command -v cargo-maelstrom >/dev/null || { echo "no cargo-maelstrom in $BUILD/bin: build it first" >&2; exit 1; }

WORK="$(mktemp -d /tmp/mael-cargo-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export CARGO_TERM_COLOR=never

if [[ "${SKIP_NEXTEST:-0}" != 1 ]] && ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest (cargo install cargo-nextest --locked) ..." >&2
  cargo install cargo-nextest --locked >&2 || echo "cargo-nextest failed to build; skipping it" >&2
fi
have_nextest() { [[ "${SKIP_NEXTEST:-0}" != 1 ]] && cargo nextest --version >/dev/null 2>&1; }

# median_time CMD...: runs CMD $RUNS times in the current directory, prints the median seconds.
median_time() {
  local times=()
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
  done
  printf '%.2f\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")"
}

report() {  # NAME TESTS CARGO_TEST NEXTEST MAELSTROM
  printf '| %-22s | %6s | %10s | %10s | %10s |\n' "$@"
}

bench_project() {  # NAME DIR MAELSTROM_ARGS... -- CARGO_ARGS...
  local name="$1" dir="$2"; shift 2
  local m_args=() c_args=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do m_args+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  c_args=("$@")
  cd "$dir"
  cargo test --no-run -q "${c_args[@]}" >/dev/null 2>&1
  # Warm up cargo-maelstrom too (its layer cache and test listing live in target/maelstrom).
  cargo maelstrom --ui quiet "${m_args[@]}" >/dev/null 2>&1 || true
  local tests
  tests=$(cargo maelstrom --ui quiet "${m_args[@]}" 2>/dev/null | awk '/Successful Tests/ {s=$NF} /Failed Tests/ {f=$NF} END {print s+f}')
  local ct nt mt
  ct=$(median_time cargo test -q "${c_args[@]}")
  if have_nextest; then
    cargo nextest run --no-run "${c_args[@]}" >/dev/null 2>&1 || true
    nt=$(median_time cargo nextest run "${c_args[@]}")
  else
    nt="n/a"
  fi
  mt=$(median_time cargo maelstrom --ui quiet "${m_args[@]}")
  report "$name" "$tests" "$ct" "$nt" "$mt"
}

echo "machine: $(nproc) CPUs, $(uname -r); runs per figure: $RUNS (median, seconds)"
report project tests "cargo test" nextest maelstrom
report ---------------------- ------ ---------- ---------- ----------

# The fixture, without the tests that fail or hang on purpose.
cp -r "$ROOT/tests/fixtures/cargo-workspace" "$WORK/fixture"
rm -rf "$WORK/fixture/target"
export FIXTURE_GREETING="hello from the spec file"  # what the spec file gives the job
bench_project fixture "$WORK/fixture" -x "package.equals(gamma)" -- --workspace --exclude gamma --lib --bins --tests

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
  bench_project "$crate $ver" "$WORK/$crate" -- --lib --bins --tests
done
