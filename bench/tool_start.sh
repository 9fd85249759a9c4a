#!/usr/bin/env bash
# Start-up time of our tools: `TOOL --version`, which returns as soon as the program is loaded and
# its options are parsed. Run by hand (not in CI):
#   bench/tool_start.sh [BUILD_DIR...]          (default: build)
# For each build directory, prints the median wall time of RUNS starts (default 11) two ways:
#   idle:  each start after a pause of 0.7 s (memory the program touches was not touched lately)
#   warm:  starts back to back
# and the page faults of one start. Several build directories are measured turn by turn, so
# load from elsewhere hits them alike (e.g. one built with -DMAEL_STATIC_DEPS=OFF).
set -euo pipefail
# -h/--help: the comment at the top, as usage.
case "${1:-}" in -h | --help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${RUNS:-11}"
TOOL="${TOOL:-cargo-maelstrom}"
dirs=("$@")
((${#dirs[@]})) || dirs=("$ROOT/build")
for d in "${dirs[@]}"; do
  [[ -x "$d/bin/$TOOL" ]] || { echo "no $d/bin/$TOOL: build it first" >&2; exit 1; }
done

us() {  # CMD...: wall time of one run in microseconds
  local s e
  s=$(date +%s%N)
  "$@" >/dev/null 2>&1
  e=$(date +%s%N)
  echo $(((e - s) / 1000))
}
median() { sort -n | sed -n "$(((RUNS + 1) / 2))p"; }

declare -A idle warm
for ((i = 0; i < RUNS; i++)); do
  for d in "${dirs[@]}"; do
    sleep 0.7
    idle[$d]+="$(us "$d/bin/$TOOL" --version) "
  done
  for d in "${dirs[@]}"; do
    warm[$d]+="$(us "$d/bin/$TOOL" --version) "
    warm[$d]+="$(us "$d/bin/$TOOL" --version) "
  done
done
printf '| %-40s | %10s | %10s | %11s | %s\n' "build" "idle (ms)" "warm (ms)" "page faults" "shared objects"
for d in "${dirs[@]}"; do
  i=$(tr ' ' '\n' <<<"${idle[$d]}" | grep . | median)
  w=$(tr ' ' '\n' <<<"${warm[$d]}" | grep . | sort -n | sed -n "$RUNS p")
  f=$( { /usr/bin/time -f '%R' "$d/bin/$TOOL" --version >/dev/null; } 2>&1 | tail -1)
  n=$(ldd "$d/bin/$TOOL" | grep -c '=>' || true)
  printf '| %-40s | %10.1f | %10.1f | %11s | %s\n' "$d" "$(bc -l <<<"$i / 1000")" "$(bc -l <<<"$w / 1000")" "$f" "$n"
done
