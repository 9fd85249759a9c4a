#pragma once
// A job without an image runs on the interpreter that collected the tests: its executable (the
// virtualenv's, symlinks and all), pyvenv.cfg, the standard library and every directory of
// sys.path, at their paths on this machine, plus the shared libraries the interpreter and the
// extension modules need. A team without a registry starts in one command.
#include <filesystem>
#include <string>
#include <vector>

#include "pytest/pytest_collect.h"
#include "spec/spec.h"

namespace mael {

struct PythonLayers {
  std::string program;            // the interpreter, as sys.executable names it
  std::vector<LayerSpec> layers;
  size_t files = 0;               // how many files the layers hold (for the log)
};

// Walks the directories once; `project` is left out (its files come from the spec's layers).
// Of the standard library, the test suite, IDLE, tkinter, the build configuration and any
// site-packages that is not on sys.path are left out.
PythonLayers host_python_layers(const PythonInfo& python, const std::filesystem::path& project);

}  // namespace mael
