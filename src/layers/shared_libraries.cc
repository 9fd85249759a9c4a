#include "layers/shared_libraries.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "base/elf_reader.h"
#include "base/error.h"

namespace fs = std::filesystem;

namespace mael {

namespace {

constexpr uint16_t kEmX86_64 = 62, kEmAarch64 = 183, kEm386 = 3, kEmArm = 40, kEmRiscv = 243, kEmPpc64 = 21,
                   kEmS390 = 22;

std::vector<std::string> default_dirs_for(const ElfInfo& e) {
  std::string triple;
  switch (e.machine) {
    case kEmX86_64: triple = "x86_64-linux-gnu"; break;
    case kEmAarch64: triple = "aarch64-linux-gnu"; break;
    case kEm386: triple = "i386-linux-gnu"; break;
    case kEmArm: triple = "arm-linux-gnueabihf"; break;
    case kEmRiscv: triple = "riscv64-linux-gnu"; break;
    case kEmPpc64: triple = e.little_endian ? "powerpc64le-linux-gnu" : "powerpc64-linux-gnu"; break;
    case kEmS390: triple = "s390x-linux-gnu"; break;
  }
  std::vector<std::string> dirs;
  if (!triple.empty()) dirs = {"/lib/" + triple, "/usr/lib/" + triple};
  if (e.is64) {
    dirs.push_back("/lib64");
    dirs.push_back("/usr/lib64");
  } else {
    dirs.push_back("/lib32");
    dirs.push_back("/usr/lib32");
  }
  dirs.push_back("/lib");
  dirs.push_back("/usr/lib");
  return dirs;
}

std::vector<std::string> split_path_list(const std::string& s, const fs::path& origin) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t colon = s.find(':', pos);
    if (colon == std::string::npos) colon = s.size();
    std::string dir = s.substr(pos, colon - pos);
    pos = colon + 1;
    // $ORIGIN / ${ORIGIN}: the directory of the object; other tokens ($LIB,
    // $PLATFORM) are left unexpanded and so never match.
    for (const char* tok : {"${ORIGIN}", "$ORIGIN"}) {
      for (size_t at; (at = dir.find(tok)) != std::string::npos;)
        dir.replace(at, strlen(tok), origin.string());
    }
    if (dir.empty()) dir = ".";  // an empty element means the current directory
    out.push_back(dir);
  }
  return out;
}

struct Loaded {
  fs::path path;
  ElfInfo elf;
  int loader;  // index of the object that needed it, -1 for the binary
};

bool compatible(const ElfInfo& lib, const ElfInfo& main) {
  return lib.is64 == main.is64 && lib.machine == main.machine && lib.little_endian == main.little_endian;
}

}  // namespace

SharedLibraryResolver::SharedLibraryResolver(LibrarySearchOptions options)
    : options_(std::move(options)), cache_(read_ld_so_cache(options_.ld_so_cache)) {}

std::vector<fs::path> SharedLibraryResolver::resolve(const std::vector<fs::path>& binaries) const {
  std::set<fs::path> all;
  for (const auto& b : binaries)
    for (auto& p : resolve_one(b)) all.insert(std::move(p));
  return {all.begin(), all.end()};
}

std::vector<fs::path> SharedLibraryResolver::resolve_one(const fs::path& binary) const {
  std::error_code ec;
  if (!fs::exists(binary, ec)) throw UserError("binary " + binary.string() + " does not exist");
  auto main = read_elf(binary);
  if (!main)
    throw UserError("binary " + binary.string() +
                    " is not an ELF file; remove it from the shared library layer");
  std::vector<Loaded> objs{{binary, *main, -1}};
  std::set<std::string> loaded_names;
  std::set<fs::path> result;

  auto try_file = [&](const fs::path& p) -> std::optional<ElfInfo> {
    struct stat st;
    if (stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    try {
      auto e = read_elf(p);
      if (e && compatible(*e, *main)) return e;
    } catch (const std::exception&) {
    }
    return std::nullopt;
  };

  if (main->interpreter) {
    fs::path interp = *main->interpreter;
    if (!try_file(interp))
      throw UserError("binary " + binary.string() + " needs the program interpreter " + interp.string() +
                      ", which does not exist");
    result.insert(interp);
    loaded_names.insert(interp.filename().string());
    // The interpreter's own needs (normally none) are resolved like a library's.
    objs.push_back({interp, *read_elf(interp), 0});
  }

  auto origin_of = [&](size_t i) {
    fs::path p = objs[i].path;
    if (i == 0) p = fs::weakly_canonical(fs::absolute(p));  // the loader uses the executable's real path
    return p.parent_path();
  };

  auto search = [&](const std::string& name,
                    size_t requester) -> std::optional<std::pair<fs::path, ElfInfo>> {
    if (name.find('/') != std::string::npos) {
      if (auto e = try_file(name)) return std::make_pair(fs::path(name), *e);
      return std::nullopt;
    }
    std::vector<std::string> dirs;
    const ElfInfo& req = objs[requester].elf;
    if (!req.runpath) {
      // DT_RPATH of the requester, then of the objects that loaded it, up to the binary.
      for (int i = static_cast<int>(requester); i >= 0; i = objs[static_cast<size_t>(i)].loader) {
        const ElfInfo& e = objs[static_cast<size_t>(i)].elf;
        if (e.rpath && !e.runpath)
          for (auto& d : split_path_list(*e.rpath, origin_of(static_cast<size_t>(i)))) dirs.push_back(d);
      }
    }
    if (!options_.ld_library_path.empty())
      for (auto& d : split_path_list(options_.ld_library_path, fs::current_path())) dirs.push_back(d);
    if (req.runpath)
      for (auto& d : split_path_list(*req.runpath, origin_of(requester))) dirs.push_back(d);
    for (const auto& d : dirs)
      if (auto e = try_file(fs::path(d) / name)) return std::make_pair(fs::path(d) / name, *e);
    for (const auto& c : cache_)
      if (c.name == name && c.hwcap == 0)
        if (auto e = try_file(c.path)) return std::make_pair(fs::path(c.path), *e);
    for (const auto& d : options_.default_dirs.empty() ? default_dirs_for(*main) : options_.default_dirs)
      if (auto e = try_file(fs::path(d) / name)) return std::make_pair(fs::path(d) / name, *e);
    return std::nullopt;
  };

  for (size_t i = 0; i < objs.size(); ++i) {
    std::vector<std::string> needed = objs[i].elf.needed;
    for (const auto& name : needed) {
      if (loaded_names.count(name)) continue;
      auto found = search(name, i);
      if (!found)
        throw UserError("binary " + binary.string() + ": cannot find shared library " + name + " needed by " +
                        objs[i].path.string() + "; install it or set LD_LIBRARY_PATH");
      loaded_names.insert(name);
      if (found->second.soname) loaded_names.insert(*found->second.soname);
      result.insert(found->first.lexically_normal());
      objs.push_back({found->first.lexically_normal(), found->second, static_cast<int>(i)});
    }
  }
  return {result.begin(), result.end()};
}

}  // namespace mael
