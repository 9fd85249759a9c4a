"""maelstrom-run with images that cannot be had: each is a one-line error
naming the image and the cause, a non-zero exit, and leaves no image (and no
partial download) in the depot."""
import base64
import json
import os
import sys
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "images"))
import registry as reg  # noqa: E402


def image_job(image):
    return {"image": image, "program": "sh", "arguments": ["-c", "echo ran"]}


def check_failure(runner, image, cause, jobs=None, env=None):
    r = runner.run(jobs or [image_job(image)], env=env)
    assert r.returncode != 0 and "ran" not in r.stdout
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.stderr
    assert image in lines[0] and cause in lines[0], lines[0]
    depot = runner.home / ".cache" / "maelstrom" / "container"
    images = depot / "images"
    assert not images.exists() or os.listdir(images) == [], os.listdir(images)
    blobs = depot / "blobs" / "sha256"
    if blobs.exists():
        assert not [p for p in os.listdir(blobs) if p.endswith(".partial")]
    return lines[0]


def registry_layer_digests(addr, repo, tag):
    """The layer digests of a single-platform image as the registry serves it."""
    req = urllib.request.Request(f"http://{addr}/v2/{repo}/manifests/{tag}", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        manifest = json.load(r)
    return [l["digest"].split(":")[1] for l in manifest["layers"]]


def build_other_platform_only(out):
    """An index whose only image is for a platform other than this machine's."""
    layout = reg.Layout(str(out))
    layer = reg.make_tar([("other.txt", "file", "other platform\n")])
    other = reg.add_image(layout, [(layer, "gzip")], ["PATH=/bin"], "/", reg.other_platform())
    index = {"schemaVersion": 2, "mediaType": reg.OCI_INDEX, "manifests": [other]}
    reg._finish(layout, layout.json_blob(index, reg.OCI_INDEX), "latest")


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    d = tmp_path_factory.mktemp("layouts")
    reg.build_basic(str(d / "basic"))
    build_other_platform_only(d / "foreign")
    return d


@pytest.fixture(scope="module")
def registry(tmp_path_factory, layouts):
    root = tmp_path_factory.mktemp("registry")
    with reg.Registry(str(root)) as addr:
        reg.push(f"{layouts / 'basic'}:latest", f"{addr}/test/basic:v1")
        reg.push(f"{layouts / 'basic'}:latest", f"{addr}/test/corrupt:v1")
        reg.push(f"{layouts / 'foreign'}:latest", f"{addr}/test/foreign:v1")
        yield addr, root


def test_image_not_found(runner, registry):
    addr, _ = registry
    check_failure(runner, f"docker://{addr}/test/nothing:v1", "image not found")


def test_tag_not_found(runner, registry):
    addr, _ = registry
    check_failure(runner, f"docker://{addr}/test/basic:v9", "tag v9 not found")
    assert not (runner.tmp / "maelstrom-container-tags.lock").exists()


def test_no_manifest_for_this_platform(runner, registry):
    addr, _ = registry
    check_failure(runner, f"docker://{addr}/test/foreign:v1", "no manifest for platform")


def test_registry_unreachable(runner):
    check_failure(runner, "docker://127.0.0.1:1/test/basic:v1", "unreachable")


def test_digest_mismatch(runner, registry):
    addr, root = registry
    # Flip a byte of the top layer in the registry's storage (put back afterwards:
    # the blob is shared with test/basic).
    hexd = registry_layer_digests(addr, "test/corrupt", "v1")[2]
    data = root / "storage" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexd[:2] / hexd / "data"
    good = data.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 1
    data.write_bytes(bytes(bad))
    try:
        line = check_failure(runner, f"docker://{addr}/test/corrupt:v1", "digest mismatch")
        assert hexd in line
        assert not (runner.home / ".cache" / "maelstrom" / "container" / "blobs" / "sha256" / hexd).exists()
    finally:
        data.write_bytes(good)


def test_wrong_credentials(runner, tmp_path_factory, layouts):
    with reg.Registry(str(tmp_path_factory.mktemp("auth")), "alice", "s3cret") as addr:
        reg.push(f"{layouts / 'basic'}:latest", f"{addr}/private/basic:v1", creds="alice:s3cret")
        cfg = runner.home / ".docker" / "config.json"
        cfg.parent.mkdir(parents=True)
        cfg.write_text(json.dumps({"auths": {addr: {"auth": base64.b64encode(b"alice:nope").decode()}}}))
        check_failure(runner, f"docker://{addr}/private/basic:v1", "wrong credentials")


@pytest.mark.parametrize("kind", ["oci-archive", "docker-archive"])
def test_corrupt_archive(runner, layouts, kind):
    whole = runner.tmp / "whole.tar"
    if kind == "oci-archive":
        reg.oci_archive(str(layouts / "basic"), str(whole))
    else:  # skopeo writes no zstd layers to a docker-archive
        plain = runner.tmp / "plain"
        reg.build_basic(str(plain), zstd=False)
        reg.docker_archive(f"{plain}:latest", str(whole))
    data = whole.read_bytes()
    (runner.tmp / "image.tar").write_bytes(data[: len(data) // 2])  # cut short
    assert "image.tar" in check_failure(runner, f"{kind}:image.tar", "corrupt archive")


def test_malformed_lock_file(runner, registry):
    addr, _ = registry
    (runner.tmp / "maelstrom-container-tags.lock").write_text("version = 1\n\n[broken\n")
    check_failure(runner, f"docker://{addr}/test/basic:v1", "maelstrom-container-tags.lock:3")


def test_failed_image_leaves_earlier_jobs_and_depot_intact(runner, registry):
    """A good image pulled first stays; the bad one adds nothing."""
    addr, _ = registry
    good = f"docker://{addr}/test/basic:v1"
    r = runner.run([image_job(good)])
    assert r.returncode == 0 and r.stdout.split() == ["ran"], r.stderr
    images = runner.home / ".cache" / "maelstrom" / "container" / "images"
    before = sorted(os.listdir(images))
    r = runner.run([image_job(f"docker://{addr}/test/foreign:v1")])
    assert r.returncode != 0
    assert sorted(os.listdir(images)) == before
