#include "pytest/collection_record.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"

namespace mael {

namespace fs = std::filesystem;

namespace {
constexpr int kVersion = 1;
}

fs::path collection_record_path(const fs::path& state_dir) {
  return state_dir / "collection.json";
}

std::optional<CollectionRecord> load_collection_record(const fs::path& file, const std::string& tool) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  auto string_at = [&](const char* name) -> const nlohmann::json* {
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? &*it : nullptr;
  };
  if (!j.is_object() || j.value("version", 0) != kVersion) return std::nullopt;
  const nlohmann::json* t = string_at("tool");
  const nlohmann::json* key = string_at("key");
  const nlohmann::json* out = string_at("stdout");
  if (!t || !key || !out || t->get<std::string>() != tool) return std::nullopt;
  return CollectionRecord{key->get<std::string>(), out->get<std::string>()};
}

void save_collection_record(const fs::path& file, const std::string& tool, const CollectionRecord& r) {
  nlohmann::json j = {{"version", kVersion}, {"tool", tool}, {"key", r.key}, {"stdout", r.stdout_}};
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  write_file_atomically(file, j.dump() + "\n");
}

}  // namespace mael
