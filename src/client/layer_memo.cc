#include "client/layer_memo.h"

#include <type_traits>

namespace mael {

namespace {

// Length-prefixed fields, so that no two different specs give the same key.
class KeyWriter {
 public:
  void str(const std::string& s) {
    out_ += std::to_string(s.size());
    out_ += ':';
    out_ += s;
  }
  void opt(const std::optional<std::string>& s) {
    out_ += s ? '+' : '-';
    if (s) str(*s);
  }
  void flag(bool b) { out_ += b ? '1' : '0'; }
  void strs(const std::vector<std::string>& v) {
    out_ += std::to_string(v.size());
    out_ += '#';
    for (const auto& s : v) str(s);
  }
  void prefix(const PrefixOptions& p) {
    opt(p.strip_prefix);
    opt(p.prepend_prefix);
    flag(p.canonicalize);
    flag(p.follow_symlinks);
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

}  // namespace

std::string layer_spec_key(const LayerSpec& spec) {
  KeyWriter w;
  w.out() = std::to_string(spec.index()) + '|';
  std::visit(
      [&](const auto& s) {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, TarLayer>) {
          w.str(s.path);
        } else if constexpr (std::is_same_v<T, GlobLayer>) {
          w.str(s.glob);
          w.prefix(s.prefix);
        } else if constexpr (std::is_same_v<T, PathsLayer>) {
          w.str(s.paths.digest());  // (the list itself may be thousands of paths long)
          w.prefix(s.prefix);
          w.flag(s.synthetic_mtimes);
        } else if constexpr (std::is_same_v<T, StubsLayer>) {
          w.strs(s.stubs);
        } else if constexpr (std::is_same_v<T, SymlinksLayer>) {
          w.out() += std::to_string(s.symlinks.size()) + '#';
          for (const auto& l : s.symlinks) {
            w.str(l.link);
            w.str(l.target);
          }
        } else if constexpr (std::is_same_v<T, SharedLibraryDependenciesLayer>) {
          w.strs(s.binary_paths);
          w.prefix(s.prefix);
        } else {
          static_assert(std::is_same_v<T, CommandLayer>);
          w.str(s.program);
          w.strs(s.arguments);
        }
      },
      spec);
  return std::move(w.out());
}

Digest LayerMemo::get(const LayerSpec& spec, const Build& build, const StillValid& still_valid) {
  const std::string key = layer_spec_key(spec);
  for (;;) {
    std::promise<Digest> promise;
    Entry seen;
    bool mine = false;
    {
      std::lock_guard lk(mu_);
      auto [it, inserted] = memo_.try_emplace(key);
      if (inserted) {
        it->second = Entry{promise.get_future().share(), ++generation_};
        mine = true;
      }
      seen = it->second;
    }
    auto forget = [&] {
      std::lock_guard lk(mu_);
      auto it = memo_.find(key);
      if (it != memo_.end() && it->second.generation == seen.generation) memo_.erase(it);
    };
    if (mine) {
      try {
        Digest d = build();
        promise.set_value(d);
        return d;
      } catch (...) {
        promise.set_exception(std::current_exception());
        forget();
        throw;
      }
    }
    Digest d = seen.digest.get();  // rethrows the error of the build it waited for
    if (still_valid(d)) return d;
    forget();  // gone from the store meanwhile: the next round builds it again
  }
}

size_t LayerMemo::size() const {
  std::lock_guard lk(mu_);
  return memo_.size();
}

void LayerMemo::clear() {
  std::lock_guard lk(mu_);
  memo_.clear();
}

}  // namespace mael
