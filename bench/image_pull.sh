#!/usr/bin/env bash
# Image pull benchmark, for a ~100 MB image served by a loopback
# docker-registry, from a cold and from a warm depot:
#   - time to first job: `maelstrom-run` running `true` in the image (pull,
#     import, extraction, container, run);
#   - the depot alone: ImageDepot::get + extraction of all layers
#     (maelstrom-image-pull --extract);
#   - against `skopeo copy docker://... oci:DIR` and `umoci unpack`, in the
#     same run.
# Writes bench/IMAGES.md.
#
# usage: bench/image_pull.sh [BUILD_DIR] [SIZE_MB] [RUNS]
#   BUILD_DIR defaults to ./build (needs maelstrom-run and maelstrom-image-pull built).
set -euo pipefail
# -h/--help: the comment at the top, as usage.
case "${1:-}" in -h | --help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${1:-$src/build}
size_mb=${2:-100}
runs=${3:-3}
pull=$build/bin/maelstrom-image-pull
mrun=$build/bin/maelstrom-run
helper=$src/tests/images/registry.py
for b in "$pull" "$mrun"; do
  [[ -x $b ]] || { echo "build $(basename "$b") first (cmake --build $build --target $(basename "$b"))" >&2; exit 1; }
done

work=$(mktemp -d)
reg_pid=
cleanup() {
  # registry.py stops its registry on SIGTERM.
  [[ -n $reg_pid ]] && { kill "$reg_pid" 2>/dev/null; wait "$reg_pid" 2>/dev/null; } || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building a ${size_mb} MB image..." >&2
python3 "$helper" build --kind big --size-mb "$size_mb" --out "$work/layout" >/dev/null
image_bytes=$(du -sb "$work/layout/blobs" | cut -f1)

coproc REG { exec python3 "$helper" serve --dir "$work/registry"; }
reg_pid=$REG_PID
read -r -u "${REG[0]}" ready addr _
[[ $ready == READY ]] || { echo "registry did not start" >&2; exit 1; }
python3 "$helper" push --layout "$work/layout:latest" --to "$addr/big:latest"
image=docker://$addr/big:latest

now() { date +%s.%N; }
# median of the arguments
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }

printf '{"image": "%s", "program": "true"}\n' "$image" >"$work/job.json"
# maelstrom-run with its own HOME and caches under $work/home (fresh = removed).
run_job() {
  (cd "$work/proj" && env -u MAELSTROM_RUN_CACHE_ROOT -u MAELSTROM_CACHE_ROOT \
    HOME="$work/home" XDG_CACHE_HOME="$work/home/cache" XDG_CONFIG_HOME="$work/home/config" \
    XDG_STATE_HOME="$work/home/state" "$mrun" --file "$work/job.json" >/dev/null 2>"$work/run.err") ||
    { cat "$work/run.err" >&2; exit 1; }
}

declare -a cold warm sk_cold sk_warm job_cold job_warm copy_cold unpack
for ((i = 0; i < runs; i++)); do
  rm -rf "$work/depot" "$work/root" "$work/oci" "$work/bundle" "$work/proj" "$work/home"
  mkdir -p "$work/proj"
  sync
  t0=$(now); run_job; t1=$(now)
  job_cold+=("$(elapsed "$t0" "$t1")")
  t0=$(now); run_job; t1=$(now)
  job_warm+=("$(elapsed "$t0" "$t1")")
  rm -rf "$work/proj"; mkdir -p "$work/proj"
  sync
  t0=$(now); "$pull" --depot "$work/depot" --project "$work/proj" --extract "$work/root" "$image" >/dev/null 2>&1; t1=$(now)
  cold+=("$(elapsed "$t0" "$t1")")
  rm -rf "$work/root"
  t0=$(now); "$pull" --depot "$work/depot" --project "$work/proj" --extract "$work/root" "$image" >/dev/null 2>&1; t1=$(now)
  warm+=("$(elapsed "$t0" "$t1")")

  t0=$(now)
  skopeo --insecure-policy copy -q --src-tls-verify=false "$image" "oci:$work/oci:latest"
  tm=$(now)
  umoci unpack --rootless --image "$work/oci:latest" "$work/bundle" >/dev/null 2>&1
  t1=$(now)
  sk_cold+=("$(elapsed "$t0" "$t1")")
  copy_cold+=("$(elapsed "$t0" "$tm")")
  unpack+=("$(elapsed "$tm" "$t1")")
  rm -rf "$work/bundle"
  t0=$(now)
  skopeo --insecure-policy copy -q --src-tls-verify=false "$image" "oci:$work/oci:latest"
  umoci unpack --rootless --image "$work/oci:latest" "$work/bundle" >/dev/null 2>&1
  t1=$(now)
  sk_warm+=("$(elapsed "$t0" "$t1")")
done

fmt() { printf '%.2f' "$1"; }
c=$(median "${cold[@]}"); w=$(median "${warm[@]}")
jc=$(median "${job_cold[@]}"); jw=$(median "${job_warm[@]}")
sc=$(median "${sk_cold[@]}"); sw=$(median "${sk_warm[@]}")
cc=$(median "${copy_cold[@]}"); uc=$(median "${unpack[@]}")
cat >"$here/IMAGES.md" <<MD
# Image pull: time to first job

\`bench/image_pull.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m).
Image: busybox plus ${size_mb} MB of random files (2 gzip layers, $((image_bytes / 1024 / 1024)) MiB of
blobs), served by a loopback \`docker-registry\` (plain HTTP). Median of ${runs} runs, seconds.

| | cold | warm |
|---|---|---|
| **time to first job**: \`maelstrom-run\`, one job running \`true\` in the image | $(fmt "$jc") | $(fmt "$jw") |
| the depot alone: \`ImageDepot::get\` + extract all layers (\`maelstrom-image-pull --extract\`) | $(fmt "$c") | $(fmt "$w") |
| \`skopeo copy docker://... oci:DIR\` + \`umoci unpack --rootless\` | $(fmt "$sc") | $(fmt "$sw") |
| of which \`skopeo copy\` | $(fmt "$cc") | |
| of which \`umoci unpack --rootless\` | $(fmt "$uc") | |

Cold: empty depot and caches (for \`maelstrom-run\`: fresh HOME, so a fresh image
depot, artifact cache and lock file), so the job pays for the download, the
layers' import and extraction, then container setup. Warm: the same again with
everything in place (the tag pinned by the lock file, no registry round trip).
skopeo's warm run copies into an OCI directory that already holds the blobs
(it still asks the registry), and \`umoci unpack\` extracts the whole tree again
each time.

All runs: maelstrom-run cold ${job_cold[*]}; warm ${job_warm[*]}. Depot cold ${cold[*]};
warm ${warm[*]}. skopeo+umoci cold ${sk_cold[*]}; warm ${sk_warm[*]}.
MD
cat "$here/IMAGES.md"
