#!/usr/bin/env bash
# Runs a libFuzzer target for a given time, starting from its committed seed corpus:
#
#   bench/fuzz.sh TARGET SECONDS      e.g.  bench/fuzz.sh json_spec 300
#   bench/fuzz.sh all SECONDS         every target in turn, SECONDS each
#
# TARGET is the name of a directory in fuzz/corpus/ (json_spec, toml_spec, directives, filter,
# brace_expand, manifest, convert, tar_extract); its code is src/*/TARGET_fuzz.cc. The targets are
# built first, with clang, ASan and UBSan (-DMAEL_FUZZ=ON, in $BUILD_FUZZ, default build-fuzz).
# Inputs the fuzzer finds go to a scratch directory, not into the corpus; add the useful ones by
# hand. A crash stops the run: its input is kept in fuzz/crashes/ (reproduce it with
# `build-fuzz/fuzz/TARGET_fuzz FILE`) and the script exits non-zero.
# One line per target ends the output, "TARGET: N executions in S s, C crashes", then
# "fuzz: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
# -h/--help: the comment at the top, as usage.
case "${1:-}" in -h | --help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' bench/fuzz.sh; exit 0 ;; esac

if (($# != 2)) || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: bench/fuzz.sh TARGET|all SECONDS (targets: $(ls fuzz/corpus | tr '\n' ' '))" >&2
  exit 2
fi
what=$1
seconds=$2
build=${BUILD_FUZZ:-build-fuzz}

if [[ $what == all ]]; then
  targets=($(ls fuzz/corpus))
else
  if [[ ! -d fuzz/corpus/$what ]]; then
    echo "bench/fuzz.sh: no target '$what' (targets: $(ls fuzz/corpus | tr '\n' ' '))" >&2
    exit 2
  fi
  targets=("$what")
fi

if [[ ! -f $build/build.ninja ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMAEL_FUZZ=ON >/dev/null
fi
if ! cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${targets[@]/%/_fuzz}" >"$build/fuzz-build.log" 2>&1; then
  cat "$build/fuzz-build.log" >&2
  exit 1
fi

# Scratch space for new inputs and for what tar_extract extracts: a tmpfs when there is one.
scratch_parent=/tmp
[[ -d /dev/shm && -w /dev/shm ]] && scratch_parent=/dev/shm
scratch=$(mktemp -d "$scratch_parent/mael-fuzz.XXXXXX")
trap 'chmod -R u+rwx "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
mkdir -p fuzz/crashes

summary=()
status=0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t/new" "$scratch/$t/tmp"
  log=$scratch/$t/log
  rc=0
  # -rss_limit_mb: a parser's memory must stay bounded too. -max_len: long enough for the
  # seed tars and for deep nesting.
  TMPDIR=$scratch/$t/tmp "$build/fuzz/${t}_fuzz" "$scratch/$t/new" "fuzz/corpus/$t" \
    -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
    -artifact_prefix="fuzz/crashes/$t-" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  crashes=0
  if ((rc != 0)); then
    crashes=1
    status=1
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" >&2 || tail -20 "$log" >&2
  fi
  summary+=("$t: ${execs:-0} executions in ${secs:-$seconds} s, $crashes crashes")
done
printf '%s\n' "${summary[@]}"
failed=$(printf '%s\n' "${summary[@]}" | grep -c ', 1 crashes$' || true)
echo "fuzz: $((${#targets[@]} - failed)) passed, $failed failed"
exit $status
