#!/bin/sh
# Runs the benchmarks built in ${BUILD:-build}/bench (builds nothing) and
# prints their tables. As root it also runs them as uid 65534 (nobody) when
# setpriv is available. Extra arguments go to container_overhead
# (e.g. -n 300 -r 3 -p 2, --only prepared, --no-bwrap).
set -eu
# -h/--help: the comment at the top, as usage.
case "${1:-}" in -h | --help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac
BUILD=${BUILD:-build}
bin="$BUILD/bench/container_overhead"
if [ ! -x "$bin" ]; then
  echo "error: $bin not found; build it first: cmake --build $BUILD --target container_overhead" >&2
  exit 1
fi
echo "== container_overhead as uid $(id -u) ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
"$bin" "$@"
if [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
  echo
  echo "== container_overhead as uid 65534"
  # The binary must be reachable by nobody; TMPDIR is where it makes its layers.
  abs=$(realpath "$bin")
  (cd / && TMPDIR=/tmp setpriv --reuid=65534 --regid=65534 --clear-groups "$abs" "$@")
fi
