// maelstrom-image-pull: fetches an image into the depot and prints what a job
// would get from it; with --extract DIR also unpacks the layers (bottom to
// top, applying OCI whiteouts) — a debugging aid and the image benchmark's
// stand-in for "time to first job".
#include <archive.h>
#include <archive_entry.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include "base/config.h"
#include "base/error.h"
#include "base/tar_reader.h"
#include "base/tool_main.h"
#include "base/version.h"
#include "image/image_depot.h"

namespace fs = std::filesystem;

namespace {

void extract_layer(const fs::path& tar, const fs::path& dest) {
  archive* in = mael::new_tar_reader();
  archive* out = archive_write_disk_new();
  archive_write_disk_set_options(out, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                          ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  if (archive_read_open_filename(in, tar.c_str(), 1 << 20) != ARCHIVE_OK) {
    throw std::runtime_error(std::string("open layer: ") + archive_error_string(in));
  }
  archive_entry* e;
  while (archive_read_next_header(in, &e) == ARCHIVE_OK) {
    // Paths are made absolute under dest here, after refusing ones that leave it.
    fs::path rel = fs::path(archive_entry_pathname(e)).relative_path().lexically_normal();
    if (rel.empty() || rel == "." || *rel.begin() == "..") continue;
    std::string base = rel.filename().string();
    if (base == ".wh..wh..opq") {  // opaque directory: drop what lower layers put there
      for (const auto& c : fs::directory_iterator(dest / rel.parent_path())) fs::remove_all(c.path());
      continue;
    }
    if (base.starts_with(".wh.")) {
      fs::remove_all(dest / rel.parent_path() / base.substr(4));
      continue;
    }
    if (archive_entry_filetype(e) == AE_IFCHR || archive_entry_filetype(e) == AE_IFBLK) continue;
    std::string full = (dest / rel).string();
    archive_entry_set_pathname(e, full.c_str());
    if (const char* hl = archive_entry_hardlink(e)) {
      std::string target = (dest / fs::path(hl).lexically_normal()).string();
      archive_entry_set_hardlink(e, target.c_str());
    }
    if (archive_write_header(out, e) != ARCHIVE_OK) {
      throw std::runtime_error("extract " + full + ": " + archive_error_string(out));
    }
    const void* buf;
    size_t size;
    la_int64_t off;
    while (archive_read_data_block(in, &buf, &size, &off) == ARCHIVE_OK) {
      archive_write_data_block(out, buf, size, off);
    }
    archive_write_finish_entry(out);
  }
  archive_read_free(in);
  archive_write_free(out);
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
