#include "runner/template_vars.h"

#include <cctype>

#include "base/error.h"

namespace mael {

namespace {

bool ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '-';
}
bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
}

}  // namespace

std::string replace_template_vars(std::string_view in, const TemplateVars& vars) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '<') {
      out += in[i++];
      continue;
    }
    // A run of '<' followed by IDENT '>' is a (possibly escaped) variable.
    size_t run_end = i;
    while (run_end < in.size() && in[run_end] == '<') ++run_end;
    size_t id_end = run_end;
    if (id_end < in.size() && ident_start(in[id_end])) {
      ++id_end;
      while (id_end < in.size() && ident_char(in[id_end])) ++id_end;
    }
    size_t angles = run_end - i;
    if (id_end == run_end || id_end >= in.size() || in[id_end] != '>') {
      out.append(in.substr(i, angles));
      i = run_end;
      continue;
    }
    std::string name(in.substr(run_end, id_end - run_end));
    if (angles % 2 == 1) {
      auto it = vars.find(name);
      if (it == vars.end())
        throw UserError("unknown template variable `" + name + "` in `" + std::string(in) + "`" +
                        (vars.empty() ? "" : " (write `<<" + name + ">` for a literal `<" + name + ">`)"));
      out.append((angles - 1) / 2, '<');
      out += it->second;
      i = id_end + 1;
    } else {
      // Escaped: half the angles, and the rest is copied as it is.
      out.append(angles / 2, '<');
      i = run_end;
    }
  }
  return out;
}

void replace_template_vars(LayerSpec& layer, const TemplateVars& vars) {
  auto r = [&](std::string& s) { s = replace_template_vars(s, vars); };
  std::visit(
      [&](auto& l) {
        using T = std::decay_t<decltype(l)>;
        if constexpr (std::is_same_v<T, TarLayer>) {
          r(l.path);
        } else if constexpr (std::is_same_v<T, GlobLayer>) {
          r(l.glob);
        } else if constexpr (std::is_same_v<T, PathsLayer>) {
          for (auto& p : l.paths.mutate()) r(p);
        } else if constexpr (std::is_same_v<T, StubsLayer>) {
          for (auto& p : l.stubs) r(p);
        } else if constexpr (std::is_same_v<T, SymlinksLayer>) {
          for (auto& s : l.symlinks) {
            r(s.link);
            r(s.target);
          }
        } else if constexpr (std::is_same_v<T, SharedLibraryDependenciesLayer>) {
          for (auto& p : l.binary_paths) r(p);
        }
      },
      layer);
}

}  // namespace mael
