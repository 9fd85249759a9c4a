#include "cargo/last_build.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"

namespace mael {
namespace fs = std::filesystem;
namespace {

// The arguments without the program and the color choice: `cargo maelstrom` runs the cargo in
// $CARGO, `cargo-maelstrom` the one on the PATH (rustup's proxy), and both build the same. Were
// the two ever different toolchains, the early results would still be dropped, since the cargo
// that checks the build would rebuild.
std::vector<std::string> key_of(const std::vector<std::string>& args) {
  std::vector<std::string> key;
  for (size_t i = 1; i < args.size(); ++i)
    if (args[i].rfind("--color=", 0) != 0) key.push_back(args[i]);
  return key;
}

}  // namespace

std::vector<BuiltTestBinary> load_last_build(const fs::path& file, const std::vector<std::string>& cargo_args,
                                             int64_t racy_ns) {
  std::ifstream in(file);
  if (!in) return {};
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  std::vector<BuiltTestBinary> out;
  try {
    if (!j.is_object() || j.value("version", 0) != 1) return {};
    if (j.at("cargo").get<std::vector<std::string>>() != key_of(cargo_args)) return {};
    int64_t written = j.at("written_ns").get<int64_t>();
    for (const auto& b : j.at("binaries")) {
      BuiltTestBinary bin{b.at("package").get<std::string>(), b.at("target").get<std::string>(),
                          b.at("executable").get<std::string>(), b.at("signature").get<std::string>()};
      int64_t changed = 0;
      if (file_signature(bin.executable, &changed) != bin.signature || changed > written - racy_ns) continue;
      out.push_back(std::move(bin));
    }
  } catch (const nlohmann::json::exception&) {
    return {};
  }
  return out;
}

void save_last_build(const fs::path& file, const std::vector<std::string>& cargo_args,
                     std::vector<BuiltTestBinary> binaries) {
  try {
    nlohmann::json list = nlohmann::json::array();
    for (auto& b : binaries) {
      b.signature = file_signature(b.executable);
      if (b.signature == "-") continue;
      list.push_back({{"package", b.package},
                      {"target", b.target},
                      {"executable", b.executable.string()},
                      {"signature", b.signature}});
    }
    nlohmann::json j = {
        {"version", 1}, {"cargo", key_of(cargo_args)}, {"written_ns", wall_clock_ns()}, {"binaries", list}};
    fs::create_directories(file.parent_path());
    write_file_atomically(file, j.dump());
  } catch (const std::exception&) {
    // The next run waits for cargo before starting tests.
  }
}

}  // namespace mael
