#pragma once
// Maelstrom's pip packages for an image named `python`: `test-requirements.txt` is installed
// by pip in a job on that image (host network, its root's changes captured), once per image and
// requirements file; the files pip wrote become a layer every test on that image gets.
#include <filesystem>
#include <optional>
#include <string>

#include "runner/run_loop.h"
#include "spec/spec.h"

namespace mael {

// Whether the image is one Maelstrom installs pip packages into: its repository's last
// component is `python` (docker://python:3.12, docker://registry:5000/library/python:3.11).
bool is_python_image(const std::string& image_name);

struct PipLayerOptions {
  std::filesystem::path project;    // where test-requirements.txt is
  std::filesystem::path cache_dir;  // pip_packages/<image>/ is made here
  JobSubmitter submit;              // runs the install job (on this machine: it has the host network)
};

// The layer of the packages test-requirements.txt names, installed into `image` (built when the
// file or the image name changed since the last build); nullopt when the project has no
// test-requirements.txt. Throws UserError with pip's last line when the install fails.
std::optional<LayerSpec> pip_packages_layer(const ImageRef& image, const PipLayerOptions& options);

}  // namespace mael
