#include "runner/directives.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "base/error.h"
#include "base/input_file.h"
#include "base/input_limits.h"
#include "spec/toml_spec.h"

namespace mael {

namespace {

constexpr std::string_view kDirectiveKeys[] = {"filter",         "include_shared_libraries", "timeout",
                                               "slow_timeout",   "retries",                  "cache",
                                               "ignore",         "max_processes",            "max_memory",
                                               "max_tmpfs_size"};

// A field of whole seconds where 0 means none (`timeout`, `slow_timeout`).
std::optional<std::chrono::milliseconds> seconds_or_none(const Value& v, const SpecContext& ctx, const char* key) {
  int64_t secs = expect_int(v, ctx, key, 0, 0xffffffffLL);
  if (secs == 0) return std::nullopt;
  return std::chrono::seconds(secs);
}

SourcePos key_pos(const Value& table, std::string_view key) {
  for (const auto& f : table.fields)
    if (f.key == key) return f.key_pos;
  return table.pos;
}

void substitute(std::vector<LayerSpec>& layers, const TemplateVars& vars, const SpecContext& ctx,
                SourcePos pos) {
  for (LayerSpec& l : layers) {
    try {
      replace_template_vars(l, vars);
    } catch (const UserError& e) {
      ctx.fail(pos, e.what());
    }
  }
}

Directive parse_directive(const Value& table, const SpecContext& ctx, const FilterLanguage& lang,
                          const TemplateVars& vars) {
  if (!table.is_table()) ctx.fail(table.pos, "each of `directives` must be a table ([[directives]])");
  Directive d;
  d.pos = table.pos;
  d.fields = parse_container_fields(table, ctx, kDirectiveKeys);
  if (const Value* v = table.find("filter")) {
    std::string text = expect_string(*v, ctx, "filter");
    try {
      d.filter = Filter::parse(text, lang);
    } catch (const UserError& e) {
      ctx.fail(v->pos, e.what());
    }
  }
  if (const Value* v = table.find("include_shared_libraries"))
    d.include_shared_libraries = expect_bool(*v, ctx, "include_shared_libraries");
  if (const Value* v = table.find("timeout")) d.timeout = seconds_or_none(*v, ctx, "timeout");
  if (const Value* v = table.find("slow_timeout")) d.slow_timeout = seconds_or_none(*v, ctx, "slow_timeout");
  if (const Value* v = table.find("retries")) d.retries = static_cast<size_t>(expect_int(*v, ctx, "retries", 0, 1000));
  if (const Value* v = table.find("cache")) d.cache = expect_bool(*v, ctx, "cache");
  if (const Value* v = table.find("ignore")) d.ignore = expect_bool(*v, ctx, "ignore");
  parse_limits(table, ctx, d.limits);

  if (d.fields.image || d.fields.parent) {
    d.replaces_container = true;
    d.container = to_container_spec(d.fields, ctx);
    substitute(d.container.layers, vars, ctx, key_pos(table, d.fields.layers ? "layers" : "added_layers"));
  } else {
    if (d.fields.layers) substitute(*d.fields.layers, vars, ctx, key_pos(table, "layers"));
    if (d.fields.added_layers) substitute(*d.fields.added_layers, vars, ctx, key_pos(table, "added_layers"));
  }
  return d;
}

template <typename T>
void edit_list(std::vector<T>& list, const std::optional<std::vector<T>>& set,
               const std::optional<std::vector<T>>& added) {
  if (set) list = *set;
  if (added) list.insert(list.end(), added->begin(), added->end());
}

template <typename T>
void edit_value(std::optional<T>& v, const std::optional<T>& set) {
  if (set) v = set;
}

void apply(const Directive& d, ContainerSpec& c) {
  if (d.replaces_container) {
    c = d.container;
    return;
  }
  const ContainerFields& f = d.fields;
  edit_list(c.layers, f.layers, f.added_layers);
  edit_list(c.environment, f.environment, f.added_environment);
  edit_list(c.mounts, f.mounts, f.added_mounts);
  edit_value(c.working_directory, f.working_directory);
  edit_value(c.enable_writable_file_system, f.enable_writable_file_system);
  edit_value(c.network, f.network);
  edit_value(c.user, f.user);
  edit_value(c.group, f.group);
}

// A `parent` naming a container must name one of [containers] (found when a test runs, it
// would otherwise pass --list and fail each test).
void check_parents_are_defined(const Value& doc, const std::map<std::string, ContainerSpec>& containers,
                               const SpecContext& ctx) {
  auto check = [&](const Value& table) {
    const Value* p = table.find("parent");
    if (p == nullptr) return;
    const Value* name = p->kind == Value::Kind::String ? p : p->find("name");
    if (name == nullptr || name->kind != Value::Kind::String || containers.count(name->string)) return;
    ctx.fail(name->pos, "parent container `" + name->string + "` is not defined; define it as [containers." +
                            name->string + "] in this file");
  };
  for (const auto& f : doc.fields) {
    if (f.key == "directives" && f.value.kind == Value::Kind::Array)
      for (const Value& item : f.value.items) check(item);
    if (f.key == "containers")
      for (const auto& c : f.value.fields) check(c.value);
  }
}

}  // namespace

TestSpecFile TestSpecFile::parse(std::string_view text, const std::string& source, const FilterLanguage& lang,
                                 const TemplateVars& vars) {
  SpecContext ctx(source);
  Value doc = toml_to_value(parse_toml_text(text, source));
  TestSpecFile out;
  out.source_ = source;
  for (const auto& f : doc.fields) {
    if (f.key == "directives") {
      if (f.value.kind != Value::Kind::Array)
        ctx.fail(f.key_pos, "field `directives` must be an array of tables, written [[directives]]");
      for (const Value& item : f.value.items)
        out.directives_.push_back(parse_directive(item, ctx, lang, vars));
    } else if (f.key == "containers") {
      out.containers_ = parse_containers(f.value, ctx);
      for (auto& [name, spec] : out.containers_) {
        SourcePos pos = f.key_pos;
        if (const Value* t = f.value.find(name)) pos = key_pos(*t, "layers");
        substitute(spec.layers, vars, ctx, pos);
      }
    } else {
      ctx.fail(f.key_pos, "unknown field `" + f.key + "`, expected one of `directives`, `containers`");
    }
  }
  check_parents_are_defined(doc, out.containers_, ctx);
  return out;
}

TestSpecFile TestSpecFile::load(const std::filesystem::path& path, std::string_view default_text,
                                const FilterLanguage& lang, const TemplateVars& vars) {
  refuse_directory(path, "test spec file",
                   "move it away (the test spec file is a TOML file, --init writes the default one)");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec)
      return parse(default_text, "default " + path.filename().string(), lang, vars);
    throw UserError(path.string() + ": cannot read the file; check its permissions");
  }
  in.close();
  std::string text = read_input_file(path, "test spec file", "give a TOML file", limits::kMaxTomlBytes);
  return parse(text, path.string(), lang, vars);
}

TestMetadata TestSpecFile::metadata_for(const FilterFields& test) const {
  ContainerSpec container;
  std::optional<bool> include_shared_libraries;
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<std::optional<std::chrono::milliseconds>> slow_timeout;
  std::optional<size_t> retries;
  bool cache = true;
  bool ignore = false;
  JobLimits limits;
  for (const Directive& d : directives_) {
    if (d.filter && !d.filter->matches(test)) continue;
    apply(d, container);
    if (d.include_shared_libraries) include_shared_libraries = d.include_shared_libraries;
    if (d.timeout) timeout = *d.timeout;
    if (d.slow_timeout) slow_timeout = d.slow_timeout;
    if (d.retries) retries = d.retries;
    if (d.cache) cache = *d.cache;
    if (d.ignore) ignore = *d.ignore;
    if (d.limits.max_processes) limits.max_processes = d.limits.max_processes;
    if (d.limits.max_memory) limits.max_memory = d.limits.max_memory;
    if (d.limits.max_tmpfs_size) limits.max_tmpfs_size = d.limits.max_tmpfs_size;
  }
  TestMetadata m;
  m.include_shared_libraries =
      include_shared_libraries ? *include_shared_libraries : !uses_image_layers(container.parent);
  m.container = std::move(container);
  m.timeout = timeout;
  m.slow_timeout = slow_timeout;
  m.retries = retries;
  m.cache = cache;
  m.ignore = ignore;
  m.limits = limits;
  return m;
}

bool TestSpecFile::uses_image_layers(const ContainerParent& parent) const {
  std::vector<std::string> chain;
  const ContainerParent* p = &parent;
  for (;;) {
    if (const auto* image = std::get_if<ImageRef>(p))
      return std::find(image->use.begin(), image->use.end(), ImageUse::Layers) != image->use.end();
    const auto* ref = std::get_if<ContainerRef>(p);
    if (!ref) return false;
    if (std::find(ref->use.begin(), ref->use.end(), ContainerUse::Layers) == ref->use.end()) return false;
    bool loop = std::find(chain.begin(), chain.end(), ref->name) != chain.end();
    chain.push_back(ref->name);
    if (loop) {
      std::string path;
      for (const auto& n : chain) path += (path.empty() ? "" : " -> ") + n;
      throw UserError(source_ + ": containers form a loop: " + path);
    }
    auto it = containers_.find(ref->name);
    if (it == containers_.end())
      throw UserError(source_ + ": parent container `" + ref->name + "` is not defined; add [containers." +
                      ref->name + "]");
    p = &it->second.parent;
  }
}

void write_default_spec_file(const std::filesystem::path& path, std::string_view text) {
  // O_EXCL: never overwrite, even if the file appears between a check and the write.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) throw UserError(path.string() + " already exists; remove it first to re-create it");
    throw UserError(path.string() + ": cannot create: " + std::strerror(errno));
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw UserError(path.string() + ": cannot write: " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) < 0) throw UserError(path.string() + ": cannot write: " + std::strerror(errno));
}

}  // namespace mael
