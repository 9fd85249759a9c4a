#include "layers/layer_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>

#include "base/error.h"
#include "base/subprocess.h"
#include "base/tar_reader.h"
#include "base/unique_fd.h"
#include "layers/brace_expand.h"
#include "layers/glob_pattern.h"
#include "store/artifact_store.h"
#include "store/layer_budget.h"

namespace fs = std::filesystem;

namespace mael {

namespace {

// Path components, dropping empty and "." ones; absolute paths start with "/".
std::vector<std::string> components(const std::string& p) {
  std::vector<std::string> out;
  if (!p.empty() && p[0] == '/') out.push_back("/");
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t slash = p.find('/', pos);
    if (slash == std::string::npos) slash = p.size();
    std::string c = p.substr(pos, slash - pos);
    pos = slash + 1;
    if (!c.empty() && c != ".") out.push_back(c);
  }
  return out;
}

// The in-layer (container root relative) form of a path; "" for the root.
std::string layer_path(const std::string& p, const std::string& input) {
  std::vector<std::string> parts;
  for (auto& c : components(p)) {
    if (c == "/") continue;
    if (c == "..") {
      if (parts.empty())
        throw UserError(
            "layer path " + input + " maps to '" + p +
            "', outside the container's root; adjust strip_prefix / prepend_prefix or use canonicalize");
      parts.pop_back();
    } else {
      parts.push_back(std::move(c));
    }
  }
  std::string out;
  for (const auto& c : parts) out += (out.empty() ? "" : "/") + c;
  return out;
}

// Rust's Path::strip_prefix: component-wise; nullopt when p is not under prefix.
std::optional<std::string> strip_path_prefix(const std::string& p, const std::string& prefix) {
  auto pc = components(p), xc = components(prefix);
  if (xc.size() > pc.size() || !std::equal(xc.begin(), xc.end(), pc.begin())) return std::nullopt;
  std::string out;
  for (size_t i = xc.size(); i < pc.size(); ++i) out += (out.empty() ? "" : "/") + pc[i];
  return out;
}

LayerEntry entry_from_stat(const struct stat& st, std::string path) {
  LayerEntry e;
  e.path = std::move(path);
  e.mode = st.st_mode & 07777;
  e.mtime = st.st_mtim.tv_sec;
  e.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  e.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  e.dev = st.st_dev;
  e.ino = st.st_ino;
  return e;
}

std::string command_line(const CommandLayer& c) {
  std::string s = c.program;
  for (const auto& a : c.arguments) s += " " + a;
  return s;
}

// Reads the whole archive at path; returns an error message, or "" when it is a valid tar.
// Throws UserError when it is over the store's layer limits (what its headers declare: the
// extraction counts again, exactly).
std::string check_tar(const fs::path& path, LayerBudget& budget) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(new_tar_reader(), archive_read_free);
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK)
    return archive_error_string(a.get()) ? archive_error_string(a.get()) : "unreadable";
  archive_entry* e;
  for (int r; (r = archive_read_next_header(a.get(), &e)) != ARCHIVE_EOF;) {
    if (r < ARCHIVE_WARN) return archive_error_string(a.get()) ? archive_error_string(a.get()) : "corrupt";
    budget.add_entry();
    if (archive_entry_hardlink(e) == nullptr && archive_entry_filetype(e) == AE_IFREG &&
        archive_entry_size(e) > 0)
      budget.add_file_size(static_cast<uint64_t>(archive_entry_size(e)));
    if (archive_read_data_skip(a.get()) < ARCHIVE_WARN)
      return archive_error_string(a.get()) ? archive_error_string(a.get()) : "corrupt";
  }
  return "";
}

// "[a, b, c, ...]": the first few of a list.
std::string few(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size() && i < 3; ++i) out += (i ? ", " : "") + items[i];
  return out + (items.size() > 3 ? ", ...]" : "]");
}

}  // namespace

std::string layer_label(const LayerSpec& spec) {
  return std::visit(
      [](const auto& s) -> std::string {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, TarLayer>) {
          return "tar layer " + s.path;
        } else if constexpr (std::is_same_v<T, GlobLayer>) {
          return "glob layer '" + s.glob + "'";
        } else if constexpr (std::is_same_v<T, PathsLayer>) {
          return "paths layer " + few(s.paths);
        } else if constexpr (std::is_same_v<T, StubsLayer>) {
          return "stubs layer " + few(s.stubs);
        } else if constexpr (std::is_same_v<T, SymlinksLayer>) {
          std::vector<std::string> links;
          for (const auto& l : s.symlinks) links.push_back(l.link);
          return "symlinks layer " + few(links);
        } else if constexpr (std::is_same_v<T, SharedLibraryDependenciesLayer>) {
          return "shared library layer of " + few(s.binary_paths);
        } else {
          std::vector<std::string> argv{s.program};
          argv.insert(argv.end(), s.arguments.begin(), s.arguments.end());
          return "command layer " + few(argv);
        }
      },
      spec);
}

LayerBuilder::LayerBuilder(ArtifactStore& store, fs::path project_dir, LayerBuilderOptions options)
    : store_(store),
      project_dir_(fs::absolute(std::move(project_dir)).lexically_normal()),
      resolver_(LibrarySearchOptions{
          options.ld_library_path ? *options.ld_library_path
                                  : (std::getenv("LD_LIBRARY_PATH") ? std::getenv("LD_LIBRARY_PATH") : ""),
          options.ld_so_cache,
          {}}) {}

fs::path LayerBuilder::absolute_input(const std::string& p) const {
  fs::path path(p);
  return path.is_absolute() ? path : project_dir_ / path;
}

void LayerBuilder::add_path(const std::string& input, const PrefixOptions& prefix, bool with_link_targets,
                            std::vector<LayerEntry>& out) const {
  fs::path src = absolute_input(input);
  struct stat st;
  if ((prefix.follow_symlinks ? stat(src.c_str(), &st) : lstat(src.c_str(), &st)) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) throw UserError("layer path " + input + " does not exist");
    throw_errno("stat " + src.string());
  }
  std::string p = input;
  if (prefix.canonicalize) {
    std::error_code ec;
    fs::path canon = fs::canonical(src, ec);
    if (ec) throw UserError("layer path " + input + " cannot be canonicalized: " + ec.message());
    p = canon.string();
  }
  if (prefix.strip_prefix)
    if (auto stripped = strip_path_prefix(p, *prefix.strip_prefix)) p = *stripped;
  if (prefix.prepend_prefix) p = *prefix.prepend_prefix + "/" + p;
  std::string rel = layer_path(p, input);
  if (rel.empty()) return;  // the root itself: nothing to add

  LayerEntry e = entry_from_stat(st, rel);
  if (S_ISREG(st.st_mode)) {
    e.kind = LayerEntry::kFile;
    e.source = src;
    e.size = static_cast<uint64_t>(st.st_size);
  } else if (S_ISDIR(st.st_mode)) {
    e.kind = LayerEntry::kDir;
  } else if (S_ISLNK(st.st_mode)) {
    e.kind = LayerEntry::kSymlink;
    std::error_code ec;
    e.target = fs::read_symlink(src, ec).string();
    if (ec) throw_errno("readlink " + src.string(), ec.value());
    e.mode = 0777;
  } else {
    throw UserError("layer path " + input + " is not a file, directory or symlink");
  }
  out.push_back(e);
  if (with_link_targets && e.kind == LayerEntry::kSymlink) {
    // Bring what the link points to, so the path resolves inside the container.
    if (out.size() > 4096) throw UserError("layer path " + input + ": too many levels of symbolic links");
    fs::path target = fs::path(e.target).is_absolute() ? fs::path(e.target) : src.parent_path() / e.target;
    add_path(target.lexically_normal().string(), prefix, true, out);
  }
}

std::optional<fs::path> LayerBuilder::glob_walk_root(const std::string& pattern) const {
  // Only what lies below the pattern's literal directory can match: walk that alone, not the
  // whole project (target directory included). As the walk from the top would, go through real
  // directories only (a walk does not follow symlinks) and never into the store.
  fs::path top = project_dir_;
  const std::string dir = glob_literal_dir(pattern);
  if (dir.empty()) return top;
  const fs::path store_root = store_.root();
  for (const auto& c : fs::path(dir)) {
    top /= c;
    struct stat st;
    if (lstat(top.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || top == store_root) return std::nullopt;
  }
  return top;
}

std::vector<LayerEntry> LayerBuilder::plan(const LayerSpec& spec) const {
  std::vector<LayerEntry> out;
  std::visit(
      [&](const auto& s) {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, GlobLayer>) {
          GlobPattern glob(s.glob);
          std::vector<std::string> matches;
          if (std::optional<fs::path> top = glob_walk_root(s.glob)) {
            const fs::path store_root = store_.root();
            // The cache the store is in (the local worker's state, pip packages) when it is a
            // directory inside the project, as .maelstrom-pytest/cache is.
            const fs::path cache_root = store_root.parent_path();
            const bool skip_cache = cache_root.lexically_relative(project_dir_).string().rfind("..", 0) != 0 &&
                                    cache_root != project_dir_;
            std::error_code ec;
            fs::recursive_directory_iterator it(*top, fs::directory_options::skip_permission_denied, ec), end;
            if (ec && *top == project_dir_)
              throw UserError("cannot read project directory " + project_dir_.string() + ": " + ec.message());
            if (ec) it = end;  // a directory below vanished or is unreadable: nothing matches there
            for (; it != end; it.increment(ec)) {
              if (ec) throw UserError("cannot walk " + top->string() + ": " + ec.message());
              if (it->path() == store_root || (skip_cache && it->path() == cache_root)) {
                // the cache may live in the project: never pack it
                it.disable_recursion_pending();
                continue;
              }
              std::string rel = it->path().lexically_relative(project_dir_).string();
              if (glob.matches(rel)) matches.push_back(rel);
            }
          }
          for (const auto& m : matches) {
            try {
              add_path(m, s.prefix, false, out);
            } catch (const UserError&) {
              struct stat st;
              if (lstat((project_dir_ / m).c_str(), &st) == 0) throw;  // else: it vanished meanwhile
            }
          }
        } else if constexpr (std::is_same_v<T, PathsLayer>) {
          size_t first = out.size();
          for (const auto& p : s.paths) add_path(p, s.prefix, false, out);
          if (s.synthetic_mtimes)
            for (size_t i = first; i < out.size(); ++i) out[i].mtime = kSyntheticMtime;
        } else if constexpr (std::is_same_v<T, StubsLayer>) {
          size_t room = limits::kMaxStubEntries;  // for the whole layer
          for (const auto& stub : s.stubs) {
            std::vector<std::string> paths = expand_braces(stub, room);
            room -= paths.size();
            for (const auto& x : paths) {
              LayerEntry e;
              e.path = layer_path(x, x);
              if (e.path.empty()) continue;
              bool dir = x.ends_with('/');
              e.kind = dir ? LayerEntry::kDir : LayerEntry::kFile;
              e.mode = dir ? 0555 : 0444;
              out.push_back(std::move(e));
            }
          }
        } else if constexpr (std::is_same_v<T, SymlinksLayer>) {
          for (const auto& l : s.symlinks) {
            LayerEntry e;
            e.kind = LayerEntry::kSymlink;
            e.path = layer_path(l.link, l.link);
            if (e.path.empty()) throw UserError("symlink layer: link path '" + l.link + "' names the root");
            e.target = l.target;
            e.mode = 0777;
            out.push_back(std::move(e));
          }
        } else if constexpr (std::is_same_v<T, SharedLibraryDependenciesLayer>) {
          std::vector<fs::path> binaries;
          for (const auto& b : s.binary_paths) binaries.push_back(absolute_input(b));
          for (const auto& lib : resolver_.resolve(binaries)) add_path(lib.string(), s.prefix, true, out);
        } else {
          throw std::logic_error("LayerBuilder::plan: tar and command layers have no plan");
        }
      },
      spec);
  return normalize_entries(std::move(out));
}

Digest LayerBuilder::once(const std::string& key, const std::function<Digest()>& make) {
  std::promise<Digest> promise;
  std::shared_future<Digest> future;
  bool mine = false;
  {
    std::lock_guard lk(mu_);
    auto it = in_flight_.find(key);
    if (it != in_flight_.end()) {
      future = it->second;
    } else {
      future = promise.get_future().share();
      in_flight_.emplace(key, future);
      mine = true;
    }
  }
  if (mine) {
    try {
      promise.set_value(make());
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
    std::lock_guard lk(mu_);
    in_flight_.erase(key);
  }
  return future.get();
}

Digest LayerBuilder::build(const LayerSpec& spec) {
  Digest d = build_unlabelled(spec);
  store_.set_label(d, layer_label(spec));
  return d;
}

Digest LayerBuilder::build_unlabelled(const LayerSpec& spec) {
  if (const auto* tar = std::get_if<TarLayer>(&spec)) return build_tar(*tar);
  if (const auto* cmd = std::get_if<CommandLayer>(&spec)) return build_command(*cmd);
  std::vector<LayerEntry> entries = plan(spec);
  std::string key = "layer-v1 " + std::to_string(spec.index()) + "\n" + describe_entries(entries);
  return once(key, [&] {
    if (auto d = store_.lookup_memo(key)) return *d;
    Digest d = write_layer_tar(entries, store_);
    store_.record_memo(key, d);
    return d;
  });
}

Digest LayerBuilder::build_tar(const TarLayer& spec) {
  fs::path src = absolute_input(spec.path);
  struct stat st;
  if (stat(src.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) throw UserError("tar layer " + spec.path + " does not exist");
    throw_errno("stat " + src.string());
  }
  if (!S_ISREG(st.st_mode)) throw UserError("tar layer " + spec.path + " is not a file");
  LayerEntry id = entry_from_stat(st, "");
  id.size = static_cast<uint64_t>(st.st_size);
  id.source = src;
  std::string key = "tar-v1\n" + describe_entries({id});
  return once(key, [&] {
    if (auto d = store_.lookup_memo(key)) return *d;
    // Checked once, here, so that a bad file is an error naming it rather than each job's failure.
    LayerBudget budget(store_.layer_limits(), "tar layer " + spec.path, store_.layer_bytes_hint());
    if (std::string err = check_tar(src, budget); !err.empty())
      throw UserError("tar layer " + spec.path + " is not a tar archive (" + err + ")");
    Digest d = store_.add_blob_file(src);
    store_.record_memo(key, d);
    return d;
  });
}

void LayerBuilder::forget_commands() {
  std::lock_guard lk(mu_);
  command_memo_.clear();
}

Digest LayerBuilder::build_command(const CommandLayer& spec) {
  std::string key = spec.program;
  for (const auto& a : spec.arguments) key += std::string(1, '\0') + a;
  {
    std::lock_guard lk(mu_);
    auto it = command_memo_.find(key);
    if (it != command_memo_.end() && store_.has_blob(it->second)) return it->second;
  }
  Digest d = once("command\n" + key, [&] {
    std::string cmdline = command_line(spec);
    UniqueFd err(memfd_create("command-layer-stderr", MFD_CLOEXEC));
    if (!err.valid()) throw_errno("memfd_create");
    std::vector<std::string> argv{spec.program};
    argv.insert(argv.end(), spec.arguments.begin(), spec.arguments.end());
    std::optional<ChildProcess> child;
    try {
      // The shared spawner: default signal mask, killed and reaped if anything below throws.
      child.emplace(argv, project_dir_, err.get());
    } catch (const UserError& e) {
      throw UserError(std::string("command layer: ") + e.what());
    }
    auto blob = store_.begin_blob();
    std::vector<char> buf(1 << 16);
    std::exception_ptr write_error;
    for (;;) {
      ssize_t n = read(child->stdout_fd(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (!write_error) {
        try {
          blob.write(buf.data(), static_cast<size_t>(n));
        } catch (...) {
          write_error = std::current_exception();  // keep draining so the child can finish
        }
      }
    }
    int code = child->wait();
    if (write_error) std::rethrow_exception(write_error);
    if (code != 0) {
      std::string text(4096, '\0');
      off_t len = lseek(err.get(), 0, SEEK_END);
      off_t from = len > 4096 ? len - 4096 : 0;
      ssize_t n = pread(err.get(), text.data(), text.size(), from);
      text.resize(n > 0 ? static_cast<size_t>(n) : 0);
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      if (size_t nl = text.rfind('\n'); nl != std::string::npos) text = text.substr(nl + 1);
      throw UserError("command layer '" + cmdline + "' failed with " + child->how_it_ended() +
                      (text.empty() ? "" : ": " + text));
    }
    if (blob.size() == 0) return write_layer_tar({}, store_);  // no output: an empty layer
    LayerBudget budget(store_.layer_limits(), "command layer '" + cmdline + "'", store_.layer_bytes_hint());
    if (std::string e = check_tar(blob.temp_path(), budget); !e.empty())
      throw UserError("command layer '" + cmdline +
                      "' must write a tar archive to its standard output: " + e);
    return blob.commit();
  });
  std::lock_guard lk(mu_);
  command_memo_[key] = d;
  return d;
}

}  // namespace mael
