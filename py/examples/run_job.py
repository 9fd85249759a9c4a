"""Runs `echo` in a container holding only a static busybox, and prints what it wrote.

Usage: python run_job.py [WORDS...]   (maelstrom-client must be on PATH)"""
import sys

from maelstrom_client import (Client, ContainerSpec, EnvironmentSpec, JobSpec, LayerSpec, PathsLayer, SymlinkSpec,
                              SymlinksLayer)


def main() -> int:
    words = sys.argv[1:] or ["hello", "from", "a", "container"]
    container = ContainerSpec(
        layers=[LayerSpec(paths=PathsLayer(paths=["/bin/busybox"])),
                LayerSpec(symlinks=SymlinksLayer(symlinks=[SymlinkSpec(link="/bin/echo", target="busybox")]))],
        environment=[EnvironmentSpec(vars={"PATH": "/bin"})])
    with Client(slots=1) as client:
        outcome = client.run(JobSpec(container=container, program="echo", arguments=words))
    if outcome.error is not None:
        print("error:", outcome.error, file=sys.stderr)
        return 1
    sys.stdout.buffer.write(outcome.stdout)
    return outcome.exit_code or 0


if __name__ == "__main__":
    sys.exit(main())
