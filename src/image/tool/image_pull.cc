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

#include "base/error.h"
#include "image/image_depot.h"

namespace fs = std::filesystem;

namespace {

void extract_layer(const fs::path& tar, const fs::path& dest) {
  archive* in = archive_read_new();
  archive_read_support_filter_all(in);
  archive_read_support_format_all(in);
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

int usage() {
  std::cerr << "usage: maelstrom-image-pull [--depot DIR] [--project DIR] [--platform OS/ARCH]\n"
               "                            [--insecure HOST:PORT]... [--accept-invalid-certs]\n"
               "                            [--size-limit BYTES] [--extract DIR] [--hold] IMAGE\n"
               "  --hold: after the pull, print HELD and keep the image pinned until stdin closes\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  mael::ImageOptions options;
  fs::path extract;
  std::string name;
  bool hold = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw mael::UserError("missing value for " + a);
      return argv[++i];
    };
    try {
      if (a == "--depot") {
        options.depot_root = next();
      } else if (a == "--project") {
        options.project_dir = next();
      } else if (a == "--platform") {
        options.platform = next();
      } else if (a == "--insecure") {
        options.insecure_registries.push_back(next());
      } else if (a == "--accept-invalid-certs") {
        options.accept_invalid_certs = true;
      } else if (a == "--size-limit") {
        options.size_limit = std::stoull(next());
      } else if (a == "--hold") {
        hold = true;
      } else if (a == "--extract") {
        extract = next();
      } else if (a.starts_with("-") || !name.empty()) {
        return usage();
      } else {
        name = a;
      }
    } catch (const std::exception& e) {
      std::cerr << "error: bad value for " << a << ": " << e.what() << "\n";
      return 2;
    }
  }
  if (name.empty()) return usage();
  try {
    auto t0 = std::chrono::steady_clock::now();
    mael::ImageDepot depot(options);
    mael::ImageInfo info = depot.get(name);
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
  } catch (const mael::UserError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
