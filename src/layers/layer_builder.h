#pragma once
// Turns LayerSpecs into tar blobs in the artifact store (see layer_tar.h for the
// tar form). Semantics follow Maelstrom's layer kinds:
// - tar: the file (relative to the project dir) is the layer as it is.
// - glob: the files and directories of the project dir whose relative path
//   matches (glob_pattern.h), directories as empty directories.
// - paths: the named files (relative or absolute); a directory becomes an empty
//   directory, a symlink stays one unless follow_symlinks.
// - stubs: brace-expanded; "x/" an empty directory (0555), else an empty file (0444).
// - symlinks: link -> target.
// - shared_library_dependencies: the libraries (and interpreter) the binaries
//   need, not the binaries; a library reached through a symlink also brings
//   the symlink chain's targets unless follow_symlinks.
// - command: runs program + arguments in the project dir; its standard output,
//   a tar archive (compression allowed), is the layer.
// Prefix options apply in the order follow_symlinks, canonicalize, strip_prefix
// (paths not under the prefix stay as they are), prepend_prefix. In-layer paths
// are relative to the container's root; relative inputs keep their relative path.
// Results are memoized in the store under a key made of the planned entries
// (paths, modes, sizes, mtimes, inodes), so an edited input rebuilds. Command layers are
// memoized only for the life of the builder (their inputs are unknown). A glob layer walks only
// below the pattern's literal directory (glob_literal_dir), not the whole project.
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "base/digest.h"
#include "layers/layer_tar.h"
#include "layers/shared_libraries.h"
#include "spec/spec.h"

namespace mael {

class ArtifactStore;

struct LayerBuilderOptions {
  // LD_LIBRARY_PATH for resolving shared libraries; nullopt: the process's.
  std::optional<std::string> ld_library_path;
  std::filesystem::path ld_so_cache = "/etc/ld.so.cache";
};

// How messages name a layer: "tar layer x.tar", "glob layer 'src/**'", "paths layer [a, b]".
std::string layer_label(const LayerSpec& spec);

class LayerBuilder {
 public:
  LayerBuilder(ArtifactStore& store, std::filesystem::path project_dir, LayerBuilderOptions options = {});
  // The layer's tar blob digest (present in the store, labelled with layer_label). Thread-safe;
  // concurrent builds of one layer run once. Throws UserError for the user's mistakes, and for
  // a tar layer over the store's layer limits.
  Digest build(const LayerSpec& spec);
  // The entries a (non-tar, non-command) layer would contain; for tests and tools.
  std::vector<LayerEntry> plan(const LayerSpec& spec) const;
  // Command layers are memoized for the builder's life; after this they run again when next
  // asked for (what they read may have changed).
  void forget_commands();

 private:
  Digest build_unlabelled(const LayerSpec& spec);
  Digest build_tar(const TarLayer& spec);
  Digest build_command(const CommandLayer& spec);
  Digest once(const std::string& key, const std::function<Digest()>& make);
  void add_path(const std::string& input, const PrefixOptions& prefix, bool with_link_targets,
                std::vector<LayerEntry>& out) const;
  std::filesystem::path absolute_input(const std::string& p) const;
  // Where a glob layer's walk starts; nullopt when nothing can match.
  std::optional<std::filesystem::path> glob_walk_root(const std::string& pattern) const;

  ArtifactStore& store_;
  std::filesystem::path project_dir_;
  SharedLibraryResolver resolver_;
  std::mutex mu_;
  std::map<std::string, std::shared_future<Digest>> in_flight_;
  std::map<std::string, Digest> command_memo_;
};

}  // namespace mael
