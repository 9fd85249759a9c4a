#!/usr/bin/env bash
# Wall time of a whole test run (build warm: every runner runs each module once untimed first)
# for maelstrom-go-test against `go test -count=1 ./...` and gotestsum, on the fixture module and
# on real Go modules fetched through the Go module proxy. Run by hand (not in CI):
#   bench/go.sh [BUILD_DIR]       (default: $BUILD, else build)
# On a machine busy with other work, run it under `nice -n -5` (as bench/GO.md says when it did).
# Environment:
#   RUNS     runs per figure, the median is reported (default 3); the three runners take turns
#            run by run, so that load from elsewhere hits them alike
#   MODULES  modules to test, PATH@VERSION (default: github.com/BurntSushi/toml@v1.6.0
#            github.com/goccy/go-yaml@v1.19.2 github.com/sirupsen/logrus@v1.10.2
#            golang.org/x/text@v0.44.0, the last one ~7 minutes of the run). Each is fetched with
#            `go mod download`, copied out of the module cache and tested as the main module;
#            the spec file its tests need (files, loopback) is written by this script (see
#            module_setup below and bench/GO.md). Known here: github.com/BurntSushi/toml,
#            github.com/goccy/go-yaml, github.com/sirupsen/logrus, github.com/gorilla/mux,
#            golang.org/x/text
#   GOTESTSUM_VERSION  gotestsum to `go install` into a scratch GOBIN (default v1.13.0)
#   KEEP=1   keeps the scratch directory (the copied modules, every run's output) and says where
# Prints, per module: the tests each runner ran, the median wall time and CPU (user + sys of the
# runner and the processes it waited for) of each, maelstrom-go-test's time over go test's, and
# (maelstrom-go-test - go test) / tests, the cost per test of a container per test here.
set -euo pipefail
# -h/--help: the comment at the top, as usage.
case "${1:-}" in -h | --help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-${BUILD:-$ROOT/build}}" && pwd)"
RUNS="${RUNS:-3}"
MODULES="${MODULES:-github.com/BurntSushi/toml@v1.6.0 github.com/goccy/go-yaml@v1.19.2 github.com/sirupsen/logrus@v1.10.2 golang.org/x/text@v0.44.0}"
GOTESTSUM_VERSION="${GOTESTSUM_VERSION:-v1.13.0}"
MGT="$BUILD/bin/maelstrom-go-test"
[[ -x "$MGT" ]] || { echo "no $MGT: build it first (cmake --build $BUILD --target maelstrom-go-test)" >&2; exit 1; }
command -v go >/dev/null || { echo "no go on PATH: install Go first (scripts/setup.sh)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "no /usr/bin/time: apt-get install time" >&2; exit 1; }

# Not under /tmp: the containers mount a tmpfs there, which would hide the module's directory
# from the tests that need it at its path on this machine (at_build_path below).
WORK="$(mktemp -d /var/tmp/mael-go-bench.XXXXXX)"
if [[ "${KEEP:-0}" == 1 ]]; then trap 'echo "kept $WORK" >&2' EXIT; else trap 'rm -rf "$WORK"' EXIT; fi

# gotestsum, built from the Go module proxy into a scratch GOBIN.
echo "installing gotestsum $GOTESTSUM_VERSION (go install) ..." >&2
GOBIN="$WORK/bin" go install "gotest.tools/gotestsum@$GOTESTSUM_VERSION" >&2
GOTESTSUM="$WORK/bin/gotestsum"

# timed NAME CMD...: runs CMD in the current directory, its output to $WORK/out/NAME.N; prints
# "WALL CPU" in seconds (CPU: user + sys of CMD and of the children it waited for).
mkdir -p "$WORK/out"
timed() {
  local name="$1"; shift
  local n=0
  while [[ -e "$WORK/out/$name.$n" ]]; do n=$((n + 1)); done
  /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$@" >"$WORK/out/$name.$n" 2>&1 || true
  tail -1 "$WORK/time" | awk '{printf "%.3f %.3f\n", $1, $2 + $3}'
}
median() { sort -n | sed -n "$(((RUNS + 1) / 2))p"; }
# Top-level tests (examples, fuzz targets) that passed, failed or skipped in `go test -json` output.
go_json_count() { grep -E '"Action":"(pass|fail|skip)"' "$1" | grep -cE '"Test":"[^"/]*"' || true; }
go_json_failed() {
  sed -n 's/.*"Action":"fail","Package":"\([^"]*\)","Test":"\([^"/]*\)".*/\1 \2,/p' "$1" | sort | xargs || true
}
# maelstrom-go-test's summary: every test counted (successful, failed, ignored, ...), the failures.
mgt_count() { awk '/^[A-Za-z ]*Tests *: *[0-9]+$/ {n += $NF} END {print n + 0}' "$1"; }
mgt_failed() {
  awk '/^Failed Tests/ {f = 1; next} /^[A-Z]/ {f = 0} f && /: failure/ {sub(/:$/, "", $2); print $1, $2 ","}' "$1" | sort | xargs
}

# Spec-file pieces for tests that need more than the default container.
# pkg_files PKG GLOB...: PKG's tests run in their package's directory, as under `go test`, with
# the files GLOB (relative to the module) as a layer. PKG "" is the module's root package.
pkg_files() {
  local pkg="$1" layers="" g; shift
  for g in "$@"; do layers+="{ glob = \"$g\" }, "; done
  printf '\n[[directives]]\nfilter = "package_path.equals(%s)"\nworking_directory = "/%s"\n' "$pkg" "$pkg"
  if [[ -n "$pkg" ]]; then
    printf 'added_layers = [%s{ stubs = ["/%s/"] }]\n' "$layers" "$pkg"
  else
    printf 'added_layers = [%s]\n' "${layers%, }"
  fi
}
# pkg_loopback PKG: PKG's tests get a loopback interface, and the machine's /etc/hosts so that
# "localhost" resolves (a container from layers alone has no /etc).
pkg_loopback() {
  printf '\n[[directives]]\nfilter = "package_path.equals(%s)"\nnetwork = "loopback"\n' "$1"
  printf 'added_layers = [{ paths = ["/etc/hosts"] }]\n'
}
# at_build_path FILTER [GLOB]: for tests that find files through their source file's path as
# compiled in (runtime.Caller), or compare it with their working directory: the files GLOB at
# their path on this machine (canonicalize), and this machine's module directory as the
# working directory.
at_build_path() {
  local layer=""
  [[ -n "${2:-}" ]] && layer="{ glob = \"$2\", canonicalize = true }, "
  printf '\n[[directives]]\nfilter = "%s"\nworking_directory = "%s"\n' "$1" "$PWD"
  printf 'added_layers = [%s{ stubs = ["%s/"] }]\n' "$layer" "$PWD"
}

# module_setup MODULE: in the module's copy (the current directory), writes the spec file its
# tests need (the default from --init, plus pkg_files/pkg_loopback pieces) and sets SKIP (a
# go test -skip pattern) and EXCLUDE (the same as a maelstrom-go-test filter) for tests left
# out of every runner.
module_setup() {
  SKIP="" EXCLUDE=""
  "$MGT" --init >/dev/null
  case "$1" in
    github.com/BurntSushi/toml) pkg_files "" "testdata/**" ;;
    github.com/goccy/go-yaml)
      pkg_files "" "testdata/**"
      pkg_files parser "parser/testdata/**"
      at_build_path "package_path.equals() && name.equals(TestYAMLTestSuite)" "testdata/yaml-test-suite/**"
      ;;
    github.com/sirupsen/logrus)
      pkg_loopback hooks/syslog  # UDP to localhost:514
      at_build_path "package_path.equals() && name.equals(TestNestedLoggingReportsCorrectCaller)"
      ;;
    github.com/gorilla/mux) pkg_loopback "" ;;
    golang.org/x/text)
      local p
      # encoding's tests read ../testdata or ../../testdata from their package.
      for p in charmap japanese korean simplifiedchinese traditionalchinese unicode unicode/utf32; do
        pkg_files "encoding/$p" "encoding/testdata/**"
      done
      pkg_files internal/cldrtree "internal/cldrtree/testdata/**"
      pkg_files internal/gen/bitfield "internal/gen/bitfield/*_test.go"  # reads its own sources
      pkg_files language "language/testdata/**"
      # These build programs with the go command of the machine (44 s and 7 s in go test); in a
      # container without a Go toolchain they skip themselves, so every runner leaves them out.
      # (language/display's and currency's TestLinking skip themselves everywhere.)
      SKIP='^(TestFullCycle|TestLinking)$'
      EXCLUDE='name.equals(TestFullCycle) || name.equals(TestLinking)'
      ;;
  esac >>maelstrom-go-test.toml
}

row() { printf '| %-26s | %13s | %7s | %7s | %13s | %18s | %9s | %15s |\n' "$@"; }

# bench_module NAME DIR: the three runners on the module in DIR, with SKIP/EXCLUDE set.
bench_module() {
  local name="$1" dir="$2" key="${1// /_}"
  cd "$dir"
  # --no-cache: every test runs, as under -count=1 (cached results are bench/cache_bench.sh's).
  local go_args=(-count=1) mgt_args=(--ui quiet --no-cache)
  [[ -n "$SKIP" ]] && go_args+=(-skip "$SKIP")
  [[ -n "$EXCLUDE" ]] && mgt_args+=(-x "$EXCLUDE")
  # Warm-up, untimed: builds everything; go test's -json output gives the tests it ran.
  go test "${go_args[@]}" -json ./... >"$WORK/out/$key.go-json" 2>&1 || true
  "$GOTESTSUM" -- "${go_args[@]}" ./... >/dev/null 2>&1 || true
  "$MGT" "${mgt_args[@]}" >/dev/null 2>&1 || true
  # Its record of each binary's tests trusts only files older than its entries by 2 s: one more
  # run after that, as when a user runs it again later.
  sleep 2.1
  "$MGT" "${mgt_args[@]}" >"$WORK/out/$key.mgt-warm" 2>&1 || true
  local go_tests mgt_tests
  go_tests=$(go_json_count "$WORK/out/$key.go-json")
  mgt_tests=$(mgt_count "$WORK/out/$key.mgt-warm")
  if [[ "$mgt_tests" == 0 ]]; then  # it did not run: say why rather than divide by zero
    echo "$name: maelstrom-go-test ran no test; its output:" >&2
    tail -5 "$WORK/out/$key.mgt-warm" >&2
    return 1
  fi
  local gw=() gc=() sw=() mw=() mc=() t
  for _ in $(seq "$RUNS"); do
    t=$(timed "$key.go" go test "${go_args[@]}" ./...); gw+=("${t% *}"); gc+=("${t#* }")
    t=$(timed "$key.gotestsum" "$GOTESTSUM" -- "${go_args[@]}" ./...); sw+=("${t% *}")
    t=$(timed "$key.mgt" "$MGT" "${mgt_args[@]}"); mw+=("${t% *}"); mc+=("${t#* }")
  done
  local g s m g_cpu m_cpu
  g=$(printf '%s\n' "${gw[@]}" | median); s=$(printf '%s\n' "${sw[@]}" | median)
  m=$(printf '%s\n' "${mw[@]}" | median)
  g_cpu=$(printf '%s\n' "${gc[@]}" | median); m_cpu=$(printf '%s\n' "${mc[@]}" | median)
  local tests="$mgt_tests"
  [[ "$go_tests" == "$mgt_tests" ]] || tests="$mgt_tests / $go_tests"
  row "$name" "$tests" "$(printf %.2f "$g")" "$(printf '%.2f' "$s")" \
    "$(printf '%.2f (%.2fx)' "$m" "$(echo "$m / $g" | bc -l)")" \
    "$(printf '%+.1f' "$(echo "($m - $g) * 1000 / $mgt_tests" | bc -l)")" \
    "$(printf %.2f "$g_cpu")" "$(printf %.2f "$m_cpu")"
  # Failures, so that a test failing in its container only shows.
  local gf mf
  gf=$(go_json_failed "$WORK/out/$key.go-json"); mf=$(mgt_failed "$WORK/out/$key.mgt-warm")
  [[ -z "$gf$mf" ]] || echo "  $name: go test: ${gf:-none}; maelstrom-go-test: ${mf:-none}" >>"$WORK/notes"
  echo "  $name: go test ${gw[*]}; gotestsum ${sw[*]}; maelstrom-go-test ${mw[*]} (cpu ${mc[*]}; go test cpu ${gc[*]})" >>"$WORK/runs"
}

echo "machine: $(nproc) CPUs, $(uname -r), $(go version | cut -d' ' -f3), load before $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs per figure (median)"
echo "gotestsum: $("$GOTESTSUM" --version)"
echo
row module tests "go test" gotestsum "maelstrom-go-test" "ms/test over go test" "CPU go test" "CPU maelstrom-go-test"
row -------------------------- ------------- ------- ------- ------------- ------------------ --------- ---------------
: >"$WORK/notes"; : >"$WORK/runs"

# The fixture, without its test that hangs on purpose (its failing tests fail for all runners).
cp -r "$ROOT/tests/fixtures/go-project" "$WORK/fixture"
rm -rf "$WORK/fixture/.maelstrom-go-test"
SKIP=TestHangs EXCLUDE='name.equals(TestHangs)'
bench_module fixture "$WORK/fixture"

# Real modules: fetched through the Go module proxy, copied out of the module cache (read-only
# there) and tested as the main module; their test dependencies come through the proxy too.
for spec in $MODULES; do
  mod="${spec%@*}"; ver="${spec#*@}"
  src=$(cd "$WORK" && go mod download -json "$spec" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d "$src" ]] || { echo "could not fetch $spec" >&2; exit 1; }
  dir="$WORK/mod-$(basename "$mod")-$ver"
  cp -r "$src" "$dir" && chmod -R u+w "$dir"
  cd "$dir"
  go mod download
  module_setup "$mod"
  bench_module "$(basename "$mod") $ver" "$dir"
done

echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tests: as counted by maelstrom-go-test (passed + failed + ignored); \"A / B\" when go test's top-level count B differs"
if [[ -s "$WORK/notes" ]]; then echo "failing tests:"; cat "$WORK/notes"; fi
echo "every run (wall seconds, in turn):"
cat "$WORK/runs"
