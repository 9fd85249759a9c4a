"""maelstrom-image-pull (the depot's debugging tool): progress bars on a
terminal, none in a pipe."""
import os
import pty
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import registry as reg  # noqa: E402
from testlib import bin_path, read_terminal_until_closed  # noqa: E402


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    layout = tmp_path_factory.mktemp("layout") / "basic"
    reg.build_basic(str(layout))
    with reg.Registry(str(tmp_path_factory.mktemp("registry"))) as addr:
        reg.push(f"{layout}:latest", f"{addr}/basic:v1")
        yield f"docker://{addr}/basic:v1"


def pull_args(tmp_path, image):
    return [bin_path("maelstrom-image-pull"), "--depot", str(tmp_path / "depot"), image]


def test_progress_bar_per_image_on_a_terminal(tmp_path, image):
    master, slave = pty.openpty()
    proc = subprocess.Popen(pull_args(tmp_path, image), stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = read_terminal_until_closed(master, 30)
    assert proc.wait(timeout=30) == 0
    text = out.decode()
    # The last drawing of the bar: the image's name, a full bar, done == total.
    plain = re.sub(r"\x1b\[[0-9]*[A-Za-z]", "", text.replace("\r", ""))
    finished = [l for l in plain.split("\n") if l.startswith(image + " [")]
    assert finished, text
    last = finished[-1]
    assert "[" + "#" * 30 + "]" in last, last
    done, total = last.split("] ")[1].split("/")
    assert done == total and total.endswith("B"), last
    assert "\x1b[J" in text  # redrawn in place


def test_no_progress_in_a_pipe(tmp_path, image):
    r = subprocess.run(pull_args(tmp_path, image), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stderr
    assert r.stderr.startswith("get ") and r.stderr.count("\n") == 1, r.stderr


def test_help_version_and_bad_options():
    tool = bin_path("maelstrom-image-pull")
    r = subprocess.run([tool, "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "Usage: maelstrom-image-pull [OPTIONS] IMAGE" in r.stdout and "--extract" in r.stdout
    r = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("maelstrom-image-pull ")
    for args, why in ((["--bogus", "x"], "--bogus"), ([], "IMAGE is required"),
                      (["--size-limit", "lots", "x"], '--size-limit: invalid value "lots"')):
        r = subprocess.run([tool, *args], capture_output=True, text=True, timeout=30)
        lines = r.stderr.strip().splitlines()
        assert r.returncode in (1, 2) and len(lines) == 1 and why in lines[0], r.stderr


def test_extract_stacks_the_layers_with_their_whiteouts(tmp_path):
    # --extract uses the store's extractor (store/tar_extract.h) with whiteouts applied.
    layout = tmp_path / "basic"
    reg.build_basic(str(layout))
    out = tmp_path / "root"
    r = subprocess.run([bin_path("maelstrom-image-pull"), "--depot", str(tmp_path / "depot"), "--extract", str(out),
                        f"oci:{layout}:latest"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (out / "etc" / "kept.txt").read_text() == "kept\n"
    assert not (out / "etc" / "hidden.txt").exists()
    assert sorted(os.listdir(out / "opq")) == ["fresh.txt"]
    assert sorted(os.listdir(out / "data")) == ["new.txt", "top.txt"]
    assert os.access(out / "bin" / "busybox", os.X_OK)
