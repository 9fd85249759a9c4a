#!/usr/bin/env bash
# Wall time of a whole test run for maelstrom-pytest (warm interpreters forked per test, the
# default, and --fresh-interpreter, one interpreter per test) against `pytest` and `pytest -n 2`
# (pytest-xdist), on the fixture project and on real projects' sdists from the Python package
# registry. Run by hand (not in CI):
#   bench/pytest.sh [BUILD_DIR]       (default: $BUILD, else build)
# Environment:
#   ROUNDS      warm rounds after the cold one (default 1); each figure is the median of them.
#               In a round the four runners take turns, so that load from elsewhere hits them
#               alike. The cold round comes first, in a fresh copy of each project with no
#               __pycache__ and no .maelstrom-pytest (kept for the later rounds), and runs
#               pytest, pytest -n 2 and maelstrom-pytest (warm) once each
#   PROJECTS    sdists to test, NAME==VERSION (default: boltons==26.2.0 more-itertools==11.2.1);
#               known here (spec file, test dependencies): boltons, more-itertools, pyparsing
#   FRESH_SHARE the fresh-interpreter runs of a real project run one share of its tests,
#               `--partition hash:1/FRESH_SHARE`, and their time is multiplied by FRESH_SHARE
#               (default 8; 1 runs every test). The fixture always runs every test
#   WHEELS      wheel cache for pytest, pytest-xdist and the projects' test dependencies
#               (default /var/cache/maelstrom-tests/bench-wheels): filled with `pip download`
#               on the first run, later runs install from it offline
#   KEEP=1      keeps the scratch directory (venv, projects, every run's output) and says where
# Prints one table row per project and runner: tests passed/failed/skipped as the runner counts
# them, wall time and CPU (user + sys of the runner and what it waited for) of the cold run and
# the median of the warm rounds, and the warm time over `pytest -n 2`'s; then the tests whose
# result differs between runners.
set -euo pipefail
case "${1:-}" in -h | --help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$(cd "${1:-${BUILD:-$ROOT/build}}" && pwd)"
ROUNDS="${ROUNDS:-1}"
PROJECTS="${PROJECTS:-boltons==26.2.0 more-itertools==11.2.1}"
FRESH_SHARE="${FRESH_SHARE:-8}"
[[ -x "$BUILD/bin/maelstrom-pytest" ]] || { echo "no $BUILD/bin/maelstrom-pytest: build it first" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "no /usr/bin/time: apt-get install time" >&2; exit 1; }

# Not under /tmp: every job gets its own tmpfs there, which would hide the virtualenv (its
# interpreter and site-packages are the containers' layers) and the projects.
WORK="$(mktemp -d /var/tmp/mael-pytest-bench.XXXXXX)"
if [[ "${KEEP:-0}" == 1 ]]; then trap 'echo "kept $WORK" >&2' EXIT; else trap 'rm -rf "$WORK"' EXIT; fi
# A copy of the binary, so that a rebuild during the run does not change what is measured.
MP="$WORK/maelstrom-pytest"
cp "$BUILD/bin/maelstrom-pytest" "$MP"

# The virtualenv every runner uses: pytest, pytest-xdist and the projects' test dependencies.
source "$ROOT/bench/pytest_lib.sh"  # make_venv, pip_get, project_setup, fetch_sdist
make_venv "$WORK/venv"

# timed OUT CMD...: runs CMD, its output to OUT; prints "WALL CPU" in seconds.
timed() {
  local out="$1"; shift
  /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$@" >"$out" 2>&1 || true
  tail -1 "$WORK/time" | awk '{printf "%.2f %.2f\n", $1, $2 + $3}'
}
med() { printf '%s\n' "$@" | sort -n | sed -n "$((($# + 1) / 2))p"; }

# Counts "passed failed skipped" from pytest's last line ("3 failed, 10 passed, 2 skipped, 1
# xfailed in 5s"), as maelstrom-pytest counts them: xfailed as skipped (IGNORED), xpassed as
# passed, errors as failed.
pytest_counts() {
  local last
  last=$(tail -3 "$1" | grep -E '^=* *[0-9]+ [a-z]+.* in [0-9.]+s' | tail -1) || true
  [[ -n "$last" ]] || { echo "no summary"; return; }  # pytest itself died (the fixture's abort)
  echo "$last" | awk '{
    for (i = 1; i < NF; i++) { n = $i + 0; w = $(i + 1); sub(/,$/, "", w)
      if (w == "passed" || w == "xpassed") p += n; else if (w == "failed" || w ~ /^error/) f += n
      else if (w == "skipped" || w == "xfailed" || w == "deselected") s += n }
    printf "%d %d %d\n", p, f, s }'
}
# The ids of failed tests: pytest -rfE's "FAILED id" / "ERROR id" lines.
pytest_failed() { sed -n 's/^\(FAILED\|ERROR\) \([^ ]*\).*/\2/p' "$1" | sort -u; }
# maelstrom-pytest's summary: "Successful Tests: N", "Failed Tests: N", "Ignored Tests: N", ...
# Each category counts once (the list of failures may be printed twice); categories other than
# successful and ignored (failed, timed out, ...) count as failed.
mp_counts() {
  awk -F: '/^[A-Za-z ]+Tests *: *[0-9]+ *$/ { k = $1; gsub(/ +$/, "", k); if (seen[k]++) next; n = $2 + 0
      if (k == "Successful Tests") p = n; else if (k == "Ignored Tests") s = n; else if (k == "Cached Tests") c = n; else f += n }
    END { printf "%d %d %d%s\n", p, f, s, c ? " (" c " cached)" : "" }' "$1"
}
mp_failed() {
  awk '/^[A-Z][a-z]+ Tests *:/ { f = ($1 != "Successful" && $1 != "Ignored"); next }
       f && /^    / { sub(/^ +/, ""); sub(/ *:[^:]*$/, ""); print }' "$1" | sort -u
}

row() { printf '| %-22s | %-26s | %-14s | %-14s | %-14s | %-9s |\n' "$@"; }

# bench NAME DIR EXCL_PYTEST EXCL_MP FRESH_ARGS: the runners on the project in DIR.
bench() {
  local name="$1" dir="$2" key="${1//[^A-Za-z0-9.]/_}"
  local -a pt_args=(-q -p no:cacheprovider -rfE) mp_args=(--ui quiet) fresh_args=()
  # Every run runs every test: no result cache (a passing test's unchanged job is otherwise
  # reported CACHED without running).
  [[ "$("$MP" --help)" == *--no-cache* ]] && mp_args+=(--no-cache)
  [[ -n "$3" ]] && pt_args+=(-m "$3")
  [[ -n "$4" ]] && mp_args+=(-x "$4")
  [[ -n "$5" ]] && fresh_args+=(--partition "$5")
  local scale="${6:-1}"
  cd "$dir"
  local o="$WORK/out/$key"
  # Cold: nothing compiled, no state.
  find . -name __pycache__ -prune -exec rm -rf {} +
  rm -rf .maelstrom-pytest .pytest_cache
  local c_pt c_xd c_mp
  c_pt=$(timed "$o.pytest.cold" python -m pytest "${pt_args[@]}")
  c_xd=$(timed "$o.xdist.cold" python -m pytest "${pt_args[@]}" -n 2)
  leftovers
  c_mp=$(timed "$o.warm.cold" "$MP" "${mp_args[@]}")
  local -a pt=() ptc=() xd=() xdc=() mw=() mwc=() mf=() mfc=() t
  for r in $(seq "$ROUNDS"); do
    t=$(timed "$o.pytest.$r" python -m pytest "${pt_args[@]}"); pt+=("${t% *}"); ptc+=("${t#* }")
    t=$(timed "$o.xdist.$r" python -m pytest "${pt_args[@]}" -n 2); xd+=("${t% *}"); xdc+=("${t#* }")
    leftovers
    t=$(timed "$o.warm.$r" "$MP" "${mp_args[@]}"); mw+=("${t% *}"); mwc+=("${t#* }")
    t=$(timed "$o.fresh.$r" "$MP" "${mp_args[@]}" --fresh-interpreter "${fresh_args[@]}")
    mf+=("$(echo "${t% *} * $scale" | bc -l)"); mfc+=("$(echo "${t#* } * $scale" | bc -l)")
    echo "  $name round $r: pytest ${pt[-1]}; -n 2 ${xd[-1]}; warm ${mw[-1]}; fresh ${t% *}${fresh_args:+ (share 1/$scale)}" \
      >>"$WORK/runs"
  done
  local x w f
  x=$(med "${xd[@]}"); w=$(med "${mw[@]}"); f=$(med "${mf[@]}")
  local fresh_label="--fresh-interpreter"
  [[ "$scale" != 1 ]] && fresh_label="--fresh-interpreter (1/$scale x$scale)"
  fmt() { printf '%.2f / %.2f' "$1" "$2"; }
  row "$name" pytest "$(pytest_counts "$o.pytest.1")" "$(fmt ${c_pt% *} ${c_pt#* })" "$(fmt "$(med "${pt[@]}")" "$(med "${ptc[@]}")")" ""
  row "" "pytest -n 2" "$(pytest_counts "$o.xdist.1")" "$(fmt ${c_xd% *} ${c_xd#* })" "$(fmt "$x" "$(med "${xdc[@]}")")" "1.00x"
  row "" "maelstrom-pytest (warm)" "$(mp_counts "$o.warm.1")" "$(fmt ${c_mp% *} ${c_mp#* })" "$(fmt "$w" "$(med "${mwc[@]}")")" \
    "$(printf '%.2fx' "$(echo "$w / $x" | bc -l)")"
  row "" "$fresh_label" "$(mp_counts "$o.fresh.1")" "-" "$(fmt "$f" "$(med "${mfc[@]}")")" \
    "$(printf '%.2fx' "$(echo "$f / $x" | bc -l)")"
  echo "  $name: fresh-interpreter / warm: $(printf '%.1fx' "$(echo "$f / $w" | bc -l)")" >>"$WORK/ratios"
  # Tests whose result differs: failed under one runner and not under the reference, pytest (or
  # pytest -n 2 when pytest itself died, which xdist survives by replacing the worker).
  pytest_failed "$o.pytest.1" >"$o.f.pytest"
  pytest_failed "$o.xdist.1" >"$o.f.xdist"
  mp_failed "$o.warm.1" >"$o.f.warm"
  mp_failed "$o.fresh.1" >"$o.f.fresh"
  local ref=pytest a
  [[ "$(pytest_counts "$o.pytest.1")" == "no summary" ]] && ref=xdist
  [[ -s "$o.f.$ref" ]] && echo "  $name: failed under $ref: $(xargs <"$o.f.$ref")" >>"$WORK/notes"
  for a in pytest xdist warm fresh; do
    [[ "$a" == "$ref" || "$a" == pytest ]] && continue
    local only_ref only_a
    only_ref=$(comm -23 "$o.f.$ref" "$o.f.$a" | xargs)
    only_a=$(comm -13 "$o.f.$ref" "$o.f.$a" | xargs)
    [[ "$a" == fresh && "$scale" != 1 ]] && only_ref=""  # it ran a share only
    [[ -z "$only_a" ]] || echo "  $name: failed under $a, not $ref: $only_a" >>"$WORK/notes"
    [[ -z "$only_ref" ]] || echo "  $name: failed under $ref, not $a: $only_ref" >>"$WORK/notes"
  done
  return 0
}

mkdir -p "$WORK/out"
: >"$WORK/notes"; : >"$WORK/runs"; : >"$WORK/ratios"
echo "machine: $(nproc) CPUs, $(uname -r), $("$VENV/bin/python" --version), pytest $("$VENV/bin/python" -c 'import pytest; print(pytest.__version__)'), pytest-xdist $("$VENV/bin/python" -c 'import xdist; print(xdist.__version__)'); load before $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cold: first run in a fresh copy; warm: median of $ROUNDS round(s). Seconds, wall / CPU"
echo
row project runner "passed failed skipped" "cold" "warm" "vs -n 2"
row ---------------------- -------------------------- -------------- -------------- -------------- ---------

# The fixture without its test that hangs on purpose (its failing tests fail for every runner).
cp -r "$ROOT/tests/fixtures/pytest-project" "$WORK/fixture"
bench fixture "$WORK/fixture" "not hang" "markers.contains(hang)" "" 1

for spec in $PROJECTS; do
  dir=$(fetch_sdist "$spec" "$WORK/sdist")
  share=""; [[ "$FRESH_SHARE" != 1 ]] && share="hash:1/$FRESH_SHARE"
  bench "$spec" "$dir" "" "" "$share" "$FRESH_SHARE"
done

echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "fresh-interpreter over warm (target: >= 6x):"; cat "$WORK/ratios"
if [[ -s "$WORK/notes" ]]; then echo "results that differ / failures:"; cat "$WORK/notes"; fi
echo "every warm round (wall seconds):"; cat "$WORK/runs"
