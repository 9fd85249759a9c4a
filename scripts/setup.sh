#!/usr/bin/env bash
# Installs every build and test dependency. Idempotent and quiet when all is present.
set -euo pipefail

DEBIAN_PACKAGES=(
  cmake ninja-build g++ pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libarchive-dev libzstd-dev zlib1g-dev liblzma-dev libbz2-dev liblz4-dev nettle-dev libcurl4-openssl-dev libssl-dev
  libre2-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  hyperfine bc time busybox-static bubblewrap iproute2 uidmap util-linux clang-format linux-perf
  python3 python3-pip
  docker-registry skopeo umoci apache2-utils zstd lz4
  chromium openssl
  dpkg-dev systemd adduser
  clang libclang-rt-14-dev
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}; run 'sudo scripts/setup.sh' once" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# End-to-end tests are written with pytest.
if ! python3 -c 'import pytest' 2>/dev/null; then
  echo "setup: installing pytest"
  python3 -m pip install -q pytest || python3 -m pip install -q --break-system-packages pytest
fi

# maelstrom-pytest's end-to-end tests make virtualenvs offline from these wheels (pytest and
# what it needs), so that a test run does not depend on the package registry.
WHEELS=/var/cache/maelstrom-tests/wheels
if ! ls "$WHEELS"/pytest-*.whl >/dev/null 2>&1; then
  echo "setup: downloading pytest's wheels into $WHEELS"
  mkdir -p "$WHEELS"
  python3 -m pip download -q --dest "$WHEELS" pytest
fi

# The client API's end-to-end tests drive maelstrom-client through stubs generated from
# proto/items.proto.
if ! python3 -c 'import grpc, grpc_tools' 2>/dev/null; then
  echo "setup: installing grpcio and grpcio-tools"
  python3 -m pip install -q grpcio grpcio-tools ||
    python3 -m pip install -q --break-system-packages grpcio grpcio-tools
fi
