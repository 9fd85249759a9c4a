#!/usr/bin/env bash
# The second run of an unchanged project, build check included, with cached results: wall time
# of cargo-maelstrom against `cargo test` and `cargo nextest run`, of maelstrom-go-test against
# `go test ./...` with go's own test cache on (its second run prints "(cached)"), and of
# maelstrom-pytest against `pytest` and `pytest -n 2`, in the same run. Each project is run once untimed by every runner first (and our runners once more
# after 2 s, as a user running again later), so every figure is a second run. Run by hand:
#   bench/cache_bench.sh [BUILD_DIR]         (default: build)
# Environment:
#   RUNS     runs per figure, the median is reported (default 5); the runners take turns
#   CRATES   crates.io crates besides the cargo fixture (default: regex-syntax@0.8.5
#            semver@1.0.23 itertools@0.13.0), fetched with `cargo fetch`
#   MODULES  Go modules besides the Go fixture (default: github.com/BurntSushi/toml@v1.6.0),
#            fetched with `go mod download`; their testdata/ is given to the tests as a layer
#   PYPROJECTS Python projects besides the pytest fixture (default: boltons==26.2.0
#            pyparsing==3.3.3), their sdists from the Python package registry, tested in a
#            virtualenv with pytest and pytest-xdist (bench/pytest_lib.sh; WHEELS, its wheel cache)
#   SKIP_NEXTEST=1 leaves cargo-nextest out (bench/cargo_lib.sh fetches it when not installed)
# Also shown: our runners with --no-cache (every test runs), and `go test -count=1 ./...`
# (go's cache off), to see what the caches save.
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
RUNS="${RUNS:-5}"
CRATES="${CRATES:-regex-syntax@0.8.5 semver@1.0.23 itertools@0.13.0}"
MODULES="${MODULES:-github.com/BurntSushi/toml@v1.6.0}"
PYPROJECTS="${PYPROJECTS:-boltons==26.2.0 pyparsing==3.3.3}"
export PATH="$BUILD/bin:$PATH"
for t in cargo-maelstrom maelstrom-go-test maelstrom-pytest; do
  command -v "$t" >/dev/null || { echo "no $t in $BUILD/bin: build it first" >&2; exit 1; }
done

# Not under /tmp: the containers mount a tmpfs there.
WORK="$(mktemp -d /var/tmp/mael-cache-bench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export CARGO_TERM_COLOR=never RUST_BACKTRACE=0
unset RUST_LIB_BACKTRACE CARGO_MAELSTROM_NO_CACHE MAELSTROM_GO_TEST_NO_CACHE MAELSTROM_PYTEST_NO_CACHE MAELSTROM_NO_CACHE
source "$ROOT/bench/cargo_lib.sh"  # cargo-nextest, elapsed, median, fetch_crate

row() { printf '| %-22s | %5s | %8s | %13s | %12s | %9s | %21s |\n' "$@"; }
# The summary's counts: "TESTS PASSED CACHED" (ignored tests count among the tests; they never run).
counts() {
  awk '/Successful Tests/ {p = $NF} /Successful Tests|Failed Tests|Ignored Tests/ {n += $NF} /Cached Tests/ {c = $NF}
       END {print n + 0, p + 0, c + 0}'
}
# check_cached NAME "TESTS PASSED CACHED": says when a passing test was not cached.
check_cached() {
  local a
  read -r -a a <<<"$2"
  [[ "${a[1]}" == "${a[2]}" ]] || echo "note: $1: only ${a[2]} of ${a[1]} passing tests cached" >&2
}

# bench_cargo NAME DIR: every runner tests the lib, bins and integration tests of every member.
bench_cargo() {
  local name="$1" dir="$2" peer=(--workspace --lib --bins --tests)
  cd "$dir"
  cargo test -q "${peer[@]}" >/dev/null 2>&1 || true
  if have_nextest; then cargo nextest run "${peer[@]}" >/dev/null 2>&1 || true; fi
  cargo maelstrom --ui quiet >/dev/null 2>&1 || true
  sleep 2.1  # its caches trust files older than their entries by 2 s
  local c
  c=$(cargo maelstrom --ui quiet 2>/dev/null | counts) || true  # a failing test fails the command, not the benchmark
  check_cached "$name" "$c"
  local ct=() nt=() mt=() mn=()
  for _ in $(seq "$RUNS"); do
    ct+=("$(elapsed cargo test -q "${peer[@]}")")
    have_nextest && nt+=("$(elapsed cargo nextest run "${peer[@]}")")
    mt+=("$(elapsed cargo maelstrom --ui quiet)")
    mn+=("$(elapsed cargo maelstrom --ui quiet --no-cache)")
  done
  local n="n/a"
  have_nextest && n=$(printf '%s\n' "${nt[@]}" | median)
  row "$name" "${c%% *}" "$(printf '%s\n' "${ct[@]}" | median)" "$n" "$(printf '%s\n' "${mt[@]}" | median)" \
    "$(printf '%s\n' "${mn[@]}" | median)" ""
}

# bench_go NAME DIR: go test with its cache, without it, and maelstrom-go-test.
bench_go() {
  local name="$1" dir="$2"
  cd "$dir"
  go test ./... >/dev/null 2>&1 || true
  maelstrom-go-test --ui quiet >/dev/null 2>&1 || true
  sleep 2.1
  local c
  c=$(maelstrom-go-test --ui quiet 2>/dev/null | counts) || true  # a failing test fails the command, not the benchmark
  check_cached "$name" "$c"
  local gt=() gn=() mt=() mn=()
  for _ in $(seq "$RUNS"); do
    gt+=("$(elapsed go test ./...)")
    gn+=("$(elapsed go test -count=1 ./...)")
    mt+=("$(elapsed maelstrom-go-test --ui quiet)")
    mn+=("$(elapsed maelstrom-go-test --ui quiet --no-cache)")
  done
  row "$name" "${c%% *}" "$(printf '%s\n' "${gt[@]}" | median)" "" "$(printf '%s\n' "${mt[@]}" | median)" \
    "$(printf '%s\n' "${mn[@]}" | median)" "$(printf '%s\n' "${gn[@]}" | median)"
}

# bench_py NAME DIR [PYTEST_ARGS...] -- [MAELSTROM_PYTEST_ARGS...]: pytest, pytest -n 2 and
# maelstrom-pytest, each selecting the same tests.
bench_py() {
  local name="$1" dir="$2" pa=() ma=()
  shift 2
  while [[ $# -gt 0 && "$1" != -- ]]; do pa+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  ma=("$@")
  cd "$dir"
  python -m pytest -q "${pa[@]}" >/dev/null 2>&1 || true
  maelstrom-pytest --ui quiet "${ma[@]}" >/dev/null 2>&1 || true
  sleep 2.1
  local c
  c=$(maelstrom-pytest --ui quiet "${ma[@]}" 2>/dev/null | counts) || true  # a failing test fails the command, not the benchmark
  check_cached "$name" "$c"
  local pt=() xd=() mt=() mn=()
  for _ in $(seq "$RUNS"); do
    pt+=("$(elapsed python -m pytest -q "${pa[@]}")")
    xd+=("$(elapsed python -m pytest -q -n 2 "${pa[@]}")")
    mt+=("$(elapsed maelstrom-pytest --ui quiet "${ma[@]}")")
    mn+=("$(elapsed maelstrom-pytest --ui quiet --no-cache "${ma[@]}")")
    leftovers
  done
  row "$name" "${c%% *}" "$(printf '%s\n' "${pt[@]}" | median)" "$(printf '%s\n' "${xd[@]}" | median)" \
    "$(printf '%s\n' "${mt[@]}" | median)" "$(printf '%s\n' "${mn[@]}" | median)" ""
}

echo "machine: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs per figure (median, seconds)"
have_nextest && echo "nextest: $(cargo nextest --version 2>/dev/null | head -1)"
echo "go: $(go version | cut -d' ' -f3)"
echo
row project tests "cargo test / go test / pytest" "nextest / pytest -n 2" "maelstrom, cached" "--no-cache" "go test -count=1"
row ---------------------- ----- -------- ------------- ------------ --------- ---------------------

# The cargo fixture, without the package whose tests fail and hang on purpose (a failed test is
# never cached, so every run would wait for the hanging one).
cp -r "$ROOT/tests/fixtures/cargo-workspace" "$WORK/cargo-fixture"
rm -rf "$WORK/cargo-fixture/target" "$WORK/cargo-fixture/crates/gamma"
sed -i 's|, *"crates/gamma"||' "$WORK/cargo-fixture/Cargo.toml"
export FIXTURE_GREETING="hello from the spec file"
bench_cargo "cargo fixture" "$WORK/cargo-fixture"

for spec in $CRATES; do
  crate="${spec%@*}"; ver="${spec#*@}"
  fetch_crate "$spec" "$WORK/$crate"
  bench_cargo "$crate $ver" "$WORK/$crate"
done

# The Go fixture without its packages that fail and hang on purpose (go test caches only a
# package whose tests all passed).
cp -r "$ROOT/tests/fixtures/go-project" "$WORK/go-fixture"
rm -rf "$WORK/go-fixture/.maelstrom-go-test" "$WORK/go-fixture/fail" "$WORK/go-fixture/hang"
bench_go "go fixture" "$WORK/go-fixture"

for spec in $MODULES; do
  src=$(cd "$WORK" && go mod download -json "$spec" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d "$src" ]] || { echo "could not fetch $spec" >&2; exit 1; }
  dir="$WORK/mod-$(basename "${spec%@*}")"
  cp -r "$src" "$dir" && chmod -R u+w "$dir"
  cd "$dir"
  go mod download
  maelstrom-go-test --init >/dev/null
  if [[ -d testdata ]]; then
    printf '\n[[directives]]\nfilter = "package_path.equals()"\nadded_layers = [{ glob = "testdata/**" }]\n' \
      >>maelstrom-go-test.toml
  fi
  bench_go "$(basename "${spec%@*}") ${spec#*@}" "$dir"
done

# Python: a virtualenv with pytest and pytest-xdist for every project.
source "$ROOT/bench/pytest_lib.sh"  # make_venv, fetch_sdist
make_venv "$WORK/venv"
# The pytest fixture without its tests that fail or hang on purpose (a failed test is never
# cached). Both runners select the same tests.
cp -r "$ROOT/tests/fixtures/pytest-project" "$WORK/py-fixture"
rm -rf "$WORK/py-fixture/.maelstrom-pytest" "$WORK/py-fixture/tests/test_output.py"
bench_py "pytest fixture" "$WORK/py-fixture" \
  --deselect tests/test_basics.py::test_fails --deselect tests/test_hostile.py::test_aborts -- \
  -x "name.equals(test_fails) || name.equals(test_aborts)"
for spec in $PYPROJECTS; do
  dir=$(fetch_sdist "$spec" "$WORK/sdist")
  bench_py "${spec%%==*} ${spec#*==}" "$dir"
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
