#include "runner/adapters.h"

namespace mael {

namespace {

// The directives are Maelstrom's defaults; the comments are ours.
constexpr std::string_view kCargoDefault =
    R"TOML(# Spec file for cargo-maelstrom. Directives apply in order to every test their
# `filter` matches; a directive without a filter applies to all tests.
[[directives]]

# Defaults, shown for reference:
# network = "disabled"                  # or "loopback", or "local" (runs on this machine only)
# enable_writable_file_system = false   # /tmp below stays writable
# working_directory = "/"
# user = 0
# group = 0

# Empty files and directories to mount the file systems and devices below on.
layers = [
    { stubs = [ "/{proc,sys,tmp}/", "/dev/{full,null,random,urandom,zero}" ] },
]

# Tests commonly need /tmp, /proc, /sys and a few devices.
mounts = [
    { type = "tmp", mount_point = "/tmp" },
    { type = "proc", mount_point = "/proc" },
    { type = "sys", mount_point = "/sys" },
    { type = "devices", devices = ["full", "null", "random", "urandom", "zero"] },
]

# Pass the backtrace settings through. A later directive that sets `environment`
# replaces these too; one that uses `added_environment` keeps them.
[directives.added_environment]
RUST_BACKTRACE = "$env{RUST_BACKTRACE:-0}"
RUST_LIB_BACKTRACE = "$env{RUST_LIB_BACKTRACE:-0}"

# Example: run one package's tests on a container image from Docker Hub, adding
# our own mount points on top of the image's layers.
#
# [[directives]]
# filter = "package.equals(needs_full_os)"
# image.name = "docker://alpine:latest"
# image.use = [ "environment", "layers" ]
# added_layers = [
#     { stubs = [ "/{proc,sys,tmp}/", "/dev/{full,null,random,urandom,zero}" ] },
# ]

# Example: run one test as another user.
#
# [[directives]]
# filter = "package.equals(package_a) && name.equals(tests::my_special_test)"
# user = 1000
# group = 1000

# More filters:
# filter = "package.equals(package_a) && test.equals(my_integration_test)"
# filter = "name.equals(my_test)"
# filter = "package.starts_with(foo_)"
)TOML";

constexpr std::string_view kGoDefault =
    R"TOML(# Spec file for maelstrom-go-test. Directives apply in order to every test their
# `filter` matches; a directive without a filter applies to all tests.
[[directives]]

# Defaults, shown for reference:
# network = "disabled"                  # or "loopback", or "local" (runs on this machine only)
# enable_writable_file_system = false   # /tmp below stays writable
# working_directory = "/"
# user = 0
# group = 0

# Empty files and directories to mount the file systems and devices below on.
layers = [
    { stubs = [ "/{proc,sys,tmp}/", "/dev/{full,null,random,urandom,zero}" ] },
]

# Tests commonly need /tmp, /proc, /sys and a few devices.
mounts = [
    { type = "tmp", mount_point = "/tmp" },
    { type = "proc", mount_point = "/proc" },
    { type = "sys", mount_point = "/sys" },
    { type = "devices", devices = ["full", "null", "random", "urandom", "zero"] },
]

# Example: run one package's tests on a container image from Docker Hub.
#
# [[directives]]
# filter = "package.equals(github.com/my_project/needs_full_os)"
# image.name = "docker://alpine:latest"
# image.use = [ "environment", "layers" ]
# added_layers = [
#     { stubs = [ "/{proc,sys,tmp}/", "/dev/{full,null,random,urandom,zero}" ] },
# ]

# Example: run one test as another user.
#
# [[directives]]
# filter = "package.equals(github.com/my_project/package_a) && name.equals(TestMySpecialTest)"
# user = 1000
# group = 1000

# More filters:
# filter = "name.ends_with(MyTest)"
# filter = "package_name.equals(package_a)"
# filter = "package_path.equals(pkgs/a)"
# filter = "package_path.equals()"      # the module's root package
)TOML";

constexpr std::string_view kPytestDefault =
    R"TOML(# Spec file for maelstrom-pytest. Directives apply in order to every test their
# `filter` matches; a directive without a filter applies to all tests.
[[directives]]

# Python tests run on a Python image from Docker Hub, using its layers and
# environment (write `image.use = [...]` to choose).
image = "docker://python:3.12.3-slim"

# Defaults, shown for reference:
# network = "disabled"                  # or "loopback", or "local" (runs on this machine only)
# enable_writable_file_system = false   # /tmp below stays writable
# working_directory = "/"
# user = 0
# group = 0

# Added on top of the image's layers.
added_layers = [
    # The project's Python files.
    { glob = "**.{py,pyc,pyi}" },
    # pyproject.toml, when there is one.
    { glob = "pyproject.toml" },
    # Empty files and directories to mount the file systems and devices below on.
    { stubs = [ "/{proc,sys,tmp}/", "/dev/{full,null,random,urandom,zero}" ] },
]

# Tests commonly need /tmp, /proc, /sys and a few devices.
mounts = [
    { type = "tmp", mount_point = "/tmp" },
    { type = "proc", mount_point = "/proc" },
    { type = "sys", mount_point = "/sys" },
    { type = "devices", devices = ["full", "null", "random", "urandom", "zero"] },
]

# Each job runs one test, so pytest-xdist should not fan out. A later directive
# that sets `environment` replaces this too; one that uses `added_environment`
# keeps it.
[directives.added_environment]
PYTEST_XDIST_AUTO_NUM_WORKERS = "1"

# Example: run one test as another user.
#
# [[directives]]
# filter = "node_id.equals(tests.py::Tests::my_special_test)"
# user = 1000
# group = 1000

# More filters:
# filter = "name.equals(my_test)"
# filter = "markers.contains(foo) || markers.contains(bar)"
# filter = "node_id.starts_with(foo.py)"
)TOML";

}  // namespace

const AdapterInfo& cargo_adapter() {
  static const AdapterInfo a{"cargo", "cargo-maelstrom", "cargo-maelstrom.toml", kCargoDefault,
                             &cargo_filter_language()};
  return a;
}

const AdapterInfo& go_adapter() {
  static const AdapterInfo a{"go", "maelstrom-go-test", "maelstrom-go-test.toml", kGoDefault,
                             &go_filter_language()};
  return a;
}

const AdapterInfo& pytest_adapter() {
  static const AdapterInfo a{"pytest", "maelstrom-pytest", "maelstrom-pytest.toml", kPytestDefault,
                             &pytest_filter_language()};
  return a;
}

}  // namespace mael
