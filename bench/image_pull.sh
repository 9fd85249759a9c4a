#!/usr/bin/env bash
# Image pull benchmark: time to first job (here: ImageDepot::get + extraction
# of all layers, through build/bin/maelstrom-image-pull) for a ~100 MB image
# served by a loopback docker-registry, from a cold and from a warm depot,
# against `skopeo copy docker://... oci:DIR` + `umoci unpack` in the same run.
# Writes bench/IMAGES.md.
#
# usage: bench/image_pull.sh [BUILD_DIR] [SIZE_MB] [RUNS]
#   BUILD_DIR defaults to ./build (needs target maelstrom-image-pull built).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${1:-$src/build}
size_mb=${2:-100}
runs=${3:-3}
pull=$build/bin/maelstrom-image-pull
helper=$src/tests/images/registry.py
[[ -x $pull ]] || { echo "build maelstrom-image-pull first (cmake --build $build --target maelstrom-image-pull)" >&2; exit 1; }

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

declare -a cold warm sk_cold sk_warm
for ((i = 0; i < runs; i++)); do
  rm -rf "$work/depot" "$work/root" "$work/oci" "$work/bundle" "$work/proj"
  mkdir -p "$work/proj"
  sync
  t0=$(now); "$pull" --depot "$work/depot" --project "$work/proj" --extract "$work/root" "$image" >/dev/null 2>&1; t1=$(now)
  cold+=("$(elapsed "$t0" "$t1")")
  rm -rf "$work/root"
  t0=$(now); "$pull" --depot "$work/depot" --project "$work/proj" --extract "$work/root" "$image" >/dev/null 2>&1; t1=$(now)
  warm+=("$(elapsed "$t0" "$t1")")

  t0=$(now)
  skopeo --insecure-policy copy -q --src-tls-verify=false "$image" "oci:$work/oci:latest"
  umoci unpack --rootless --image "$work/oci:latest" "$work/bundle" >/dev/null 2>&1
  t1=$(now)
  sk_cold+=("$(elapsed "$t0" "$t1")")
  rm -rf "$work/bundle"
  t0=$(now)
  skopeo --insecure-policy copy -q --src-tls-verify=false "$image" "oci:$work/oci:latest"
  umoci unpack --rootless --image "$work/oci:latest" "$work/bundle" >/dev/null 2>&1
  t1=$(now)
  sk_warm+=("$(elapsed "$t0" "$t1")")
done

fmt() { printf '%.2f' "$1"; }
c=$(median "${cold[@]}"); w=$(median "${warm[@]}")
sc=$(median "${sk_cold[@]}"); sw=$(median "${sk_warm[@]}")
cat >"$here/IMAGES.md" <<MD
# Image pull: time to first job

\`bench/image_pull.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m).
Image: busybox plus ${size_mb} MB of random files (2 gzip layers, $((image_bytes / 1024 / 1024)) MiB of
blobs), served by a loopback \`docker-registry\` (plain HTTP). "Time to first job" is
measured as \`ImageDepot::get\` + extraction of every layer into a fresh directory
(\`maelstrom-image-pull --extract\`), since the job runner lands separately.
Median of ${runs} runs, seconds.

| | cold depot | warm depot |
|---|---|---|
| maelstrom-cpp (\`ImageDepot::get\` + extract) | $(fmt "$c") | $(fmt "$w") |
| \`skopeo copy docker://... oci:DIR\` + \`umoci unpack --rootless\` | $(fmt "$sc") | $(fmt "$sw") |

Warm: the depot (or skopeo's OCI directory) already holds the blobs; the tag
is pinned (lock file for us; skopeo re-checks the registry). All runs:
ours cold ${cold[*]}; warm ${warm[*]}; skopeo+umoci cold ${sk_cold[*]}; warm ${sk_warm[*]}.
MD
cat "$here/IMAGES.md"
