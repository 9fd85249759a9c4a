"""maelstrom-run end to end with container images: a real registry on
loopback, OCI layouts and archives built by the test itself."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "images"))
import registry as reg  # noqa: E402

PROBE = "echo wd=$(pwd) var=$IMAGE_VAR; ls /etc; ls /opq; cat /data/top.txt"
EXPECTED = ["wd=/data", "var=basic", "kept.txt", "fresh.txt", "top"]


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    d = tmp_path_factory.mktemp("layout") / "basic"
    reg.build_basic(str(d))
    return d


@pytest.fixture(scope="module")
def registry_addr(tmp_path_factory, layout):
    root = tmp_path_factory.mktemp("registry")
    with reg.Registry(str(root)) as addr:
        reg.push(f"{layout}:latest", f"{addr}/test/basic:v1")
        reg.push(f"{layout}:latest", f"{addr}/test/basic:v2")
        yield addr


def image_job(image, *extra, **fields):
    spec = {"image": image, "program": "sh", "arguments": ["-c", PROBE]}
    spec.update(fields)
    return spec


def check_probe(r):
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == EXPECTED  # env and working dir applied, whiteouts honoured


def test_image_from_registry(runner, registry_addr):
    r = runner.run([image_job(f"docker://{registry_addr}/test/basic:v1")])
    check_probe(r)
    assert r.stderr == ""  # stderr is not a terminal: no progress bars or escape codes
    lock = (runner.tmp / "maelstrom-container-tags.lock").read_text()
    assert "version = 1" in lock and "v1" in lock


def test_registry_tag_is_pinned_by_lock_file(runner, registry_addr, layout, tmp_path):
    r = runner.run([image_job(f"docker://{registry_addr}/test/basic:v2")])
    check_probe(r)
    # Move the tag to another image: the lock file keeps the job on the pinned one.
    other = tmp_path / "other"
    reg.build_multiarch(str(other))
    reg.push(f"{other}:latest", f"{registry_addr}/test/basic:v2")
    r = runner.run([image_job(f"docker://{registry_addr}/test/basic:v2")])
    check_probe(r)
    lock = runner.tmp / "maelstrom-container-tags.lock"
    lock.write_text("\n".join(l for l in lock.read_text().splitlines() if "v2" not in l) + "\n")
    r = runner.run([image_job(f"docker://{registry_addr}/test/basic:v2")])
    assert r.returncode == 0, r.stderr
    assert "var=native" in r.stdout  # re-resolved after the line was removed


def test_image_from_oci_layout(runner, layout):
    check_probe(runner.run([image_job(f"oci:{layout}:latest")]))


def test_image_from_oci_archive(runner, layout):
    archive = runner.tmp / "image.tar"
    reg.oci_archive(str(layout), str(archive))
    check_probe(runner.run([image_job("oci-archive:image.tar")]))


def test_image_from_docker_archive(runner, tmp_path):
    plain = tmp_path / "plain"
    reg.build_basic(str(plain), zstd=False)
    archive = runner.tmp / "docker.tar"
    reg.docker_archive(f"{plain}:latest", str(archive))
    check_probe(runner.run([image_job("docker-archive:docker.tar")]))


def test_image_use_layers_only_with_added_layers(runner, layout):
    spec = {"image": {"name": f"oci:{layout}:latest", "use": ["layers"]},
            "added_layers": [{"stubs": ["/added/"]}], "environment": {"PATH": "/bin"},
            "program": "sh", "arguments": ["-c", "echo var=$IMAGE_VAR; pwd; test -d /added && echo added"]}
    r = runner.run([spec])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["var=", "/", "added"]


def test_missing_image_is_one_line_error(runner, registry_addr):
    r = runner.run([image_job(f"docker://{registry_addr}/test/nothing:v1")])
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "test/nothing" in lines[0]


def test_unreachable_registry(runner):
    r = runner.run([image_job("docker://127.0.0.1:1/test/basic:v1")])
    assert r.returncode != 0
    assert "127.0.0.1:1" in r.stderr


@pytest.fixture(scope="module")
def token_registry_addr(tmp_path_factory, layout):
    """A registry requiring Docker token auth; anonymous pull allowed outside private/."""
    root = tmp_path_factory.mktemp("token-registry")
    with reg.Registry(str(root), "alice", "s3cret", token=True) as addr:
        reg.push(f"{layout}:latest", f"{addr}/pub/basic:v1", creds="alice:s3cret")
        reg.push(f"{layout}:latest", f"{addr}/private/basic:v1", creds="alice:s3cret")
        yield addr


def test_anonymous_bearer_token(runner, token_registry_addr):
    check_probe(runner.run([image_job(f"docker://{token_registry_addr}/pub/basic:v1")]))
    r = runner.run([image_job(f"docker://{token_registry_addr}/private/basic:v1")])
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "needs a login" in lines[0], r.stderr


def test_login_from_docker_config_with_token_auth(runner, token_registry_addr):
    import base64
    import json
    cfg = runner.home / ".docker" / "config.json"
    cfg.parent.mkdir(parents=True)
    auth = base64.b64encode(b"alice:s3cret").decode()
    cfg.write_text(json.dumps({"auths": {token_registry_addr: {"auth": auth}}}))
    check_probe(runner.run([image_job(f"docker://{token_registry_addr}/private/basic:v1")]))


@pytest.fixture(scope="module")
def tls_registry_addr(tmp_path_factory, layout):
    root = tmp_path_factory.mktemp("tls-registry")
    with reg.Registry(str(root), tls=True) as addr:
        reg.push(f"{layout}:latest", f"{addr}/tls/basic:v1")
        yield addr


def test_self_signed_registry_needs_the_flag(runner, tls_registry_addr):
    image = f"docker://{tls_registry_addr}/tls/basic:v1"
    r = runner.run([image_job(image)])
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert tls_registry_addr in lines[0] and "accept-invalid-remote-container-tls-certs" in lines[0]
    check_probe(runner.run([image_job(image)], "--accept-invalid-remote-container-tls-certs"))


def test_progress_bar_per_image_on_a_terminal(runner, registry_addr, tmp_path):
    """stderr on a terminal: each image pulled gets its own bar, drawn to completion."""
    import json
    import pty
    import re
    import subprocess
    from testlib import bin_path, read_terminal_until_closed
    other = tmp_path / "other"
    reg.build_big(str(other), size_mb=2)  # layers of its own: something to download
    reg.push(f"{other}:latest", f"{registry_addr}/test/progress-big:v1")
    images = [f"docker://{registry_addr}/test/basic:v1", f"docker://{registry_addr}/test/progress-big:v1"]
    jobs = runner.tmp / "jobs.json"
    jobs.write_text("\n".join(json.dumps({"image": i, "program": "sh", "arguments": ["-c", "echo var=$IMAGE_VAR"]})
                              for i in images))
    master, slave = pty.openpty()
    proc = subprocess.Popen([bin_path("maelstrom-run"), "--file", str(jobs)], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, env=runner.env(), cwd=runner.tmp)
    os.close(slave)
    out = read_terminal_until_closed(master, 60)
    stdout = proc.stdout.read().decode()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0, out
    assert stdout.count("var=basic") == 1 and stdout.count("var=") == 2, stdout
    plain = re.sub(r"\x1b\[[0-9]*[A-Za-z]", "", out.decode().replace("\r", ""))
    for image in images:
        bars = [l for l in plain.split("\n") if l.startswith(image + " [")]
        assert bars, out
        done, total = bars[-1].split("] ")[1].split("/")
        assert done == total, bars[-1]
