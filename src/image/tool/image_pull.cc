// maelstrom-image-pull: fetches an image into the depot and prints what a job
// would get from it; with --extract DIR also unpacks the layers (bottom to
// top, applying OCI whiteouts) — a debugging aid and the image benchmark's
// stand-in for "time to first job".
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "base/config.h"
#include "base/error.h"
#include "base/tool_main.h"
#include "base/version.h"
#include "image/image_depot.h"
#include "store/tar_extract.h"

namespace fs = std::filesystem;

namespace {

// The store's extractor (bounded, confined, any depth), with whiteouts applied to what the lower
// layers left in dest.
void extract_layer(const fs::path& tar, const fs::path& dest) {
  mael::ExtractOptions options;
  options.whiteouts = mael::WhiteoutMode::kApply;
  mael::extract_tar(tar, dest, options);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Pulls a container image into the image depot and prints what a job would get from it.",
               "maelstrom-image-pull"};
  app.set_version_flag("-V,--version", mael::version_line("maelstrom-image-pull"));
  mael::ImageOptions options;
  std::string depot, project, size_limit;
  fs::path extract;
  std::string name;
  bool hold = false;
  app.add_option("--depot", depot, "image depot directory [default: $XDG_CACHE_HOME/maelstrom/container]")
      ->option_text("DIR");
  app.add_option("--project", project, "directory that local image references are relative to")
      ->option_text("DIR");
  app.add_option("--platform", options.platform, "platform to pick from a multi-platform image")
      ->option_text("OS/ARCH");
  app.add_option("--insecure", options.insecure_registries,
                 "registry reached over plain HTTP or TLS without certificate checks (repeatable)")
      ->option_text("HOST[:PORT]");
  app.add_flag("--accept-invalid-certs", options.accept_invalid_certs,
               "accept invalid TLS certificates from registries");
  app.add_option("--size-limit", size_limit, "target size of the depot (e.g. \"4 GB\"; 0: no bound)")
      ->option_text("BYTES");
  app.add_option("--extract", extract, "also unpack the layers, bottom to top, into this directory")
      ->option_text("DIR");
  app.add_flag("--hold", hold, "after the pull, print HELD and keep the image pinned until stdin closes");
  app.add_option("IMAGE", name, "image reference, e.g. docker://localhost:5000/app:1")->required();
  return mael::run_tool("maelstrom-image-pull", app, [&] {
    app.parse(argc, argv);
    if (!depot.empty()) options.depot_root = depot;
    if (!project.empty()) options.project_dir = project;
    if (!size_limit.empty()) {
      std::optional<uint64_t> bytes = mael::parse_byte_size(size_limit);
      if (!bytes)
        throw mael::UserError("--size-limit: invalid value \"" + size_limit +
                              "\": expected a size such as \"500MB\" or \"4 GB\"");
      options.size_limit = *bytes;
    }
    auto t0 = std::chrono::steady_clock::now();
    mael::ImageDepot image_depot(options);
    mael::ImageInfo info = image_depot.get(name);
    auto t1 = std::chrono::steady_clock::now();
    std::cout << "image " << info.name << "\nmanifest sha256:" << info.manifest_digest.hex() << "\n";
    for (const auto& l : info.layers) std::cout << "layer " << l.tar_path.string() << "\n";
    for (const auto& e : info.environment) std::cout << "env " << e << "\n";
    if (info.working_directory) std::cout << "workdir " << *info.working_directory << "\n";
    if (!extract.empty()) {
      fs::create_directories(extract);
      for (const auto& l : info.layers) extract_layer(l.tar_path, extract);
    }
    auto t2 = std::chrono::steady_clock::now();
    std::fprintf(stderr, "get %.3f s, extract %.3f s\n", std::chrono::duration<double>(t1 - t0).count(),
                 std::chrono::duration<double>(t2 - t1).count());
    if (hold) {
      std::cout << "HELD" << std::endl;
      std::string line;
      while (std::getline(std::cin, line)) {
      }
    }
    return 0;
  });
}
