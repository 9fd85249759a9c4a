"""maelstrom-run's container image options end to end: the depot's size bound
(container-image-depot-size), insecure registries
(container-insecure-registries) and docker credential helpers."""
import base64
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "images"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "cluster"))
import cluster_util as cu  # noqa: E402
import registry as reg  # noqa: E402

PROBE_JOB = {"program": "sh", "arguments": ["-c", "echo var=$IMAGE_VAR"]}


def image_job(image):
    return dict(PROBE_JOB, image=image)


def one_line_error(r):
    assert r.returncode != 0, r.stdout
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    d = tmp_path_factory.mktemp("layouts")
    reg.build_basic(str(d / "basic"))
    reg.build_multiarch(str(d / "multi"))
    return d


@pytest.fixture(scope="module")
def registry_addr(tmp_path_factory, layouts):
    with reg.Registry(str(tmp_path_factory.mktemp("registry"))) as addr:
        reg.push(f"{layouts / 'basic'}:latest", f"{addr}/test/basic:v1")
        reg.push(f"{layouts / 'multi'}:latest", f"{addr}/test/multi:v1")
        yield addr


# ---------------------------------------------------------------- depot size


def depot_images(runner):
    d = runner.home / ".cache" / "maelstrom" / "container" / "images"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def pull_both(runner, registry_addr, *args, env=None):
    """Pulls basic, then multi in a second maelstrom-run; returns the records after each."""
    r = runner.run([image_job(f"docker://{registry_addr}/test/basic:v1")], *args, env=env)
    assert r.returncode == 0 and r.stdout.split() == ["var=basic"], r.stderr
    first = depot_images(runner)
    assert len(first) == 1
    r = runner.run([image_job(f"docker://{registry_addr}/test/multi:v1")], *args, env=env)
    assert r.returncode == 0 and r.stdout.split() == ["var=native"], r.stderr
    return first, depot_images(runner)


def test_default_bound_keeps_both_images(runner, registry_addr):
    first, now = pull_both(runner, registry_addr)
    assert len(now) == 2 and first[0] in now


def depot_size_setting(runner, how, value):
    """The depot size `value` given as a flag, a variable or in the config file: (args, env)."""
    if how == "flag":
        return ["--container-image-depot-size", value], None
    if how == "env":
        return [], {"MAELSTROM_CONTAINER_IMAGE_DEPOT_SIZE": value}
    cfg = runner.home / ".config" / "maelstrom" / "run" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'container-image-depot-size = "{value}"\n')
    return [], None


@pytest.mark.parametrize("how", ["flag", "env", "config"])
def test_small_bound_evicts_the_image_not_in_use(runner, registry_addr, how):
    args, env = depot_size_setting(runner, how, "1 KB" if how != "env" else "1KB")
    first, now = pull_both(runner, registry_addr, *args, env=env)
    # The second image, in use by the run that pulled it, stays; the first goes.
    assert len(now) == 1 and now != first
    blobs = runner.home / ".cache" / "maelstrom" / "container" / "blobs" / "sha256"
    assert not any(p.name.endswith(".partial") for p in blobs.iterdir())
    # And comes back on demand.
    r = runner.run([image_job(f"docker://{registry_addr}/test/basic:v1")], *args, env=env)
    assert r.returncode == 0 and r.stdout.split() == ["var=basic"], r.stderr


def test_depot_size_shows_in_print_config(runner):
    r = runner.run(None, "-P")
    assert r.returncode == 0, r.stderr
    assert 'container-image-depot-size = "4 GB"' in r.stdout.splitlines()
    r = runner.run(None, "-P", env={"MAELSTROM_CONTAINER_IMAGE_DEPOT_SIZE": "500 MB"})
    assert 'container-image-depot-size = "500 MB"' in r.stdout.splitlines()


@pytest.mark.parametrize("how", ["flag", "env", "config"])
def test_malformed_depot_size_is_one_line_error(runner, how):
    args, env = depot_size_setting(runner, how, "lots")
    line = one_line_error(runner.run(None, "-P", *args, env=env))
    assert "container-image-depot-size" in line or "CONTAINER_IMAGE_DEPOT_SIZE" in line, line
    assert "lots" in line


# ---------------------------------------------------------------- insecure registries


@pytest.fixture(scope="module")
def plain_registry_off_loopback(tmp_path_factory, layouts):
    """A plain-HTTP registry on an address off loopback: the host end of a
    veth pair to a network namespace this fixture makes (and removes)."""
    if not cu.netns_available():
        pytest.skip("needs root and a free " + cu.NETNS_SUBNET + ".0/24 for a veth pair")
    host = cu.NetnsHost(0, f"{os.getpid() % 100000}i")
    try:
        with reg.Registry(str(tmp_path_factory.mktemp("plain-registry")), host=host.host_addr) as addr:
            reg.push(f"{layouts / 'basic'}:latest", f"{addr}/test/basic:v1")
            yield addr
    finally:
        host.remove()


@pytest.mark.parametrize("how", ["flag", "env", "env-comma", "config"])
def test_insecure_registry_option(runner, plain_registry_off_loopback, how):
    addr = plain_registry_off_loopback
    image = f"docker://{addr}/test/basic:v1"
    line = one_line_error(runner.run([image_job(image)]))
    assert addr in line and f"--container-insecure-registries {addr}" in line, line
    args, env = [], None
    if how == "flag":
        args = ["--container-insecure-registries", "other.example", "--container-insecure-registries", addr]
    elif how == "env":
        env = {"MAELSTROM_CONTAINER_INSECURE_REGISTRIES": f"other.example {addr}"}
    elif how == "env-comma":  # the variable's older, comma-separated form; a host alone matches any port
        env = {"MAELSTROM_CONTAINER_INSECURE_REGISTRIES": f"other.example, {addr.split(':')[0]}"}
    else:
        cfg = runner.home / ".config" / "maelstrom" / "run" / "config.toml"
        cfg.parent.mkdir(parents=True)
        cfg.write_text(f'container-insecure-registries = ["{addr}"]\n')
    r = runner.run([image_job(image)], *args, env=env)
    assert r.returncode == 0 and r.stdout.split() == ["var=basic"], r.stderr
    p = runner.run(None, "-P", *args, env=env)
    assert p.returncode == 0, p.stderr
    shown = {"flag": ["other.example", addr], "env": ["other.example", addr],
             "env-comma": ["other.example", addr.split(":")[0]], "config": [addr]}[how]
    listed = "[" + ", ".join(f'"{h}"' for h in shown) + "]"
    assert f"container-insecure-registries = {listed}" in p.stdout.splitlines(), p.stdout


def test_insecure_registries_default_is_empty(runner):
    r = runner.run(None, "-P")
    assert "container-insecure-registries = []" in r.stdout.splitlines(), r.stdout


# ---------------------------------------------------------------- credential helpers


@pytest.fixture(scope="module")
def basic_auth_registry(tmp_path_factory, layouts):
    with reg.Registry(str(tmp_path_factory.mktemp("auth-registry")), "alice", "s3cret") as addr:
        reg.push(f"{layouts / 'basic'}:latest", f"{addr}/private/basic:v1", creds="alice:s3cret")
        yield addr


def write_helper(bin_dir, name, body):
    bin_dir.mkdir(parents=True, exist_ok=True)
    p = bin_dir / f"docker-credential-{name}"
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(0o755)


def docker_config(runner, obj):
    cfg = runner.home / ".docker" / "config.json"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(json.dumps(obj))
    return cfg


def helper_env(runner):
    return {"PATH": f"{runner.tmp / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


@pytest.mark.parametrize("key", ["credsStore", "credHelpers"])
def test_credential_helper_logs_in(runner, basic_auth_registry, key):
    addr = basic_auth_registry
    log = runner.tmp / "helper.log"
    write_helper(runner.tmp / "bin", "test",
                 f'read server; echo "$1 $server" >> {log}\n'
                 f'echo \'{{"ServerURL":"{addr}","Username":"alice","Secret":"s3cret"}}\'')
    # An "auths" entry with a wrong password: the helper's answer is the one used.
    auths = {addr: {"auth": base64.b64encode(b"alice:wrong").decode()}}
    docker_config(runner, {key: "test" if key == "credsStore" else {addr: "test"}, "auths": auths})
    r = runner.run([image_job(f"docker://{addr}/private/basic:v1")], env=helper_env(runner))
    assert r.returncode == 0 and r.stdout.split() == ["var=basic"], r.stderr
    assert log.read_text() == f"get {addr}\n"


def test_credential_helper_wrong_password(runner, basic_auth_registry):
    addr = basic_auth_registry
    write_helper(runner.tmp / "bin", "test", '''echo '{"Username":"alice","Secret":"nope"}' ''')
    docker_config(runner, {"credsStore": "test"})
    image = f"docker://{addr}/private/basic:v1"
    line = one_line_error(runner.run([image_job(image)], env=helper_env(runner)))
    assert line.startswith(f"error: {runner.tmp / 'jobs.json'}: line 1: {image}: wrong credentials for registry {addr}"), line
    assert os.listdir(runner.home / ".cache" / "maelstrom" / "container" / "images") == []


@pytest.mark.parametrize("fault", ["missing", "exit", "json"])
def test_credential_helper_failure_is_one_line_error(runner, basic_auth_registry, fault):
    addr = basic_auth_registry
    if fault == "exit":
        write_helper(runner.tmp / "bin", "test", "echo 'the keyring is locked' >&2; exit 2")
    elif fault == "json":
        write_helper(runner.tmp / "bin", "test", "echo 'user=alice'")
    cfg = docker_config(runner, {"credHelpers": {addr: "test"}})
    image = f"docker://{addr}/private/basic:v1"
    line = one_line_error(runner.run([image_job(image)], env=helper_env(runner)))
    assert line.startswith(f"error: {runner.tmp / 'jobs.json'}: line 1: {image}: credential helper "
                           f"docker-credential-test (credHelpers in {cfg}) "
                           f"for registry {addr}: "), line
    assert {"missing": "not found on PATH", "exit": "exit status 2: the keyring is locked",
            "json": "answered something other than JSON"}[fault] in line, line
