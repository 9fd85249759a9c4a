# Sourced by the Python benchmarks (bench/pytest.sh, bench/cache_bench.sh): a virtualenv with
# pytest and pytest-xdist (make_venv), the test dependencies and maelstrom-pytest.toml of the
# projects known here (project_setup), and their sdists from the Python package registry
# (fetch_sdist); leftovers ends what the fixture's tests leave running under pytest.
# Environment: WHEELS, the wheel cache (default /var/cache/maelstrom-tests/bench-wheels): filled
# with `pip download` on the first run, later runs install from it offline.
WHEELS="${WHEELS:-/var/cache/maelstrom-tests/bench-wheels}"

# make_venv DIR: creates the virtualenv, activates it (PATH, VIRTUAL_ENV) and sets VENV. Not
# under /tmp: every job gets its own tmpfs there, which would hide the virtualenv (its
# interpreter and site-packages are the containers' layers).
make_venv() {
  VENV="$1"
  python3 -m venv "$VENV"
  mkdir -p "$WHEELS"
  pip_get pytest pytest-xdist
  export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
  unset PYTHONPATH PYTHONDONTWRITEBYTECODE
}

# The fixture's test_leaves_a_process_behind starts a sleeper that outlives its test under pytest
# and pytest -n 2 (maelstrom-pytest kills it with its container): end those of this venv.
leftovers() {
  local p
  for p in $(pgrep -f -- "^$VENV/bin/python -c .*mael-leftover" || true); do kill "$p" 2>/dev/null || true; done
}

pip_get() {  # pip_get PKG...: installs from the wheel cache, filling it first when it lacks one
  "$VENV/bin/pip" install -q --no-index --find-links "$WHEELS" "$@" 2>/dev/null && return
  echo "fetching $* into $WHEELS (pip download) ..." >&2
  "$VENV/bin/pip" download -q -d "$WHEELS" "$@" >&2
  "$VENV/bin/pip" install -q --no-index --find-links "$WHEELS" "$@"
}

# The spec file of a project without image: the venv's interpreter as layers (the default with
# no image), the project's Python files and pytest settings, FILES (more globs) for data files
# its tests read.
spec_file() {
  local extra="" g
  for g in "$@"; do extra+="    { glob = \"$g\" },"$'\n'; done
  cat <<EOF
[[directives]]
added_layers = [
    { glob = "**.{py,pyc,pyi}" },
    { glob = "{pyproject.toml,setup.cfg,tox.ini,pytest.ini}" },
${extra}    { stubs = [ "/{proc,sys,tmp}/", "/dev/{full,null,random,urandom,zero}" ] },
]
mounts = [
    { type = "tmp", mount_point = "/tmp" },
    { type = "proc", mount_point = "/proc" },
    { type = "devices", devices = ["full", "null", "random", "urandom", "zero"] },
]

[directives.added_environment]
PYTEST_XDIST_AUTO_NUM_WORKERS = "1"
EOF
}

# project_setup NAME: in the unpacked sdist (the current directory), installs the test
# dependencies and writes maelstrom-pytest.toml.
project_setup() {
  case "$1" in
    boltons)
      spec_file "tests/*.txt"  # test_ioutils reads tests/*_test_data.txt
      # test_socketutils serves and connects on 127.0.0.1
      printf '\n[[directives]]\nfilter = "file.equals(tests/test_socketutils.py)"\nnetwork = "loopback"\n' ;;
    more-itertools | more_itertools) spec_file ;;
    pyparsing)
      pip_get railroad-diagrams jinja2  # pyparsing[diagrams], for tests/test_diagram.py
      spec_file "tests/*.{txt,ini,html}" "examples/**" ;;
    *) echo "unknown project $1: add it to project_setup in bench/pytest_lib.sh" >&2; exit 1 ;;
  esac >maelstrom-pytest.toml
}

# fetch_sdist NAME==VERSION DEST: unpacks the project's sdist under DEST (through the wheel
# cache), sets it up (project_setup) and prints its directory.
fetch_sdist() {
  local spec="$1" dest="$2" pname="${1%%==*}" tarball dir
  mkdir -p "$dest"
  "$VENV/bin/pip" download -q --no-deps --no-binary :all: -d "$WHEELS" "$spec" >&2 2>/dev/null ||
    "$VENV/bin/pip" download -q --no-deps --no-binary :all: -d "$WHEELS" "$spec" >&2
  tarball=$(ls "$WHEELS"/"$(echo "$pname" | tr - _)"-"${spec#*==}".tar.gz "$WHEELS"/"$pname"-"${spec#*==}".tar.gz 2>/dev/null | head -1) || true
  [[ -f "$tarball" ]] || { echo "no sdist of $spec in $WHEELS" >&2; exit 1; }
  tar -xzf "$tarball" -C "$dest"
  dir=$(ls -d "$dest"/*/ | grep -i -e "/$(echo "$pname" | tr - _)-" -e "/$pname-" | head -1) || true
  [[ -d "$dir" ]] || { echo "no directory of $spec in $dest" >&2; exit 1; }
  (cd "$dir" && project_setup "$pname") || exit 1
  echo "${dir%/}"
}
