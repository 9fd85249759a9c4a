"""Builds the package with its gRPC stubs generated from the project's proto/items.proto (or
the copy beside this file in a source distribution)."""
import os
import pathlib
import shutil
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent


def proto_file():
    for p in (HERE / "items.proto", HERE.parent / "proto" / "items.proto"):
        if p.exists():
            return p
    raise SystemExit("items.proto not found: build from the project's py/ directory")


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        from grpc_tools import protoc
        out = pathlib.Path(self.build_lib)
        with tempfile.TemporaryDirectory() as tmp:
            # Under maelstrom_client/ so the generated modules import each other as package modules.
            (pathlib.Path(tmp) / "maelstrom_client").mkdir()
            shutil.copy(proto_file(), pathlib.Path(tmp) / "maelstrom_client" / "items.proto")
            well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
            rc = protoc.main(["protoc", f"-I{tmp}", f"-I{well_known}", f"--python_out={out}",
                              f"--grpc_python_out={out}", f"--pyi_out={out}", "maelstrom_client/items.proto"])
            if rc != 0:
                raise SystemExit("protoc failed on items.proto")


setup(cmdclass={"build_py": BuildWithStubs})
