#include "image/tag_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>

#include "base/error.h"

namespace mael {
namespace {

bool is_bare_key(const std::string& k) {
  return !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string key(const std::string& k) {
  return is_bare_key(k) ? k : quote(k);
}

[[noreturn]] void fail(const std::string& file, int64_t line, const std::string& what) {
  throw UserError(file + ":" + std::to_string(line) + ": " + what +
                  " (fix or delete the line; it is re-resolved when missing)");
}

}  // namespace

TagTable parse_tag_lock(std::string_view text, const std::string& file_name) {
  TagTable out;
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
  toml::table root;
  try {
    root = toml::parse(text, file_name);
  } catch (const toml::parse_error& e) {
    fail(file_name, e.source().begin.line, std::string(e.description()));
  }
  const toml::node* version = root.get("version");
  if (version == nullptr) fail(file_name, 1, "missing `version = 1`");
  if (!version->is_integer() || version->as_integer()->get() != 1) {
    fail(file_name, version->source().begin.line, "unsupported version (this program writes version = 1)");
  }
  for (const auto& [k, v] : root) {
    if (k.str() == "version") continue;
    const toml::table* tags = v.as_table();
    if (tags == nullptr) {
      fail(file_name, v.source().begin.line, "`" + std::string(k.str()) + "` must be a table of tags");
    }
    auto& entry = out[std::string(k.str())];
    for (const auto& [tag, d] : *tags) {
      const toml::value<std::string>* s = d.as_string();
      std::string value = s ? s->get() : std::string();
      if (s == nullptr || !value.starts_with("sha256:") || value.size() != 7 + 64) {
        fail(file_name, d.source().begin.line,
             "tag `" + std::string(tag.str()) + "` must map to \"sha256:<64 hex digits>\"");
      }
      try {
        entry[std::string(tag.str())] = Digest::from_hex(value);
      } catch (const UserError&) {
        fail(file_name, d.source().begin.line, "invalid digest " + value);
      }
    }
  }
  return out;
}

std::string format_tag_lock(const TagTable& table) {
  std::string out = "version = 1\n";
  for (const auto& [name, tags] : table) {
    out += "\n[" + key(name) + "]\n";
    for (const auto& [tag, digest] : tags) {
      out += key(tag) + " = \"sha256:" + digest.hex() + "\"\n";
    }
  }
  return out;
}

TagLockFile::TagLockFile(const std::filesystem::path& path) : path_(path) {
  // Opened without O_CREAT: a failed first resolution leaves no empty file.
  fd_.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd_.valid() && errno != ENOENT) throw_errno("open " + path.string());
  if (fd_.valid()) lock_and_read();
}

void TagLockFile::lock_and_read() {
  try {
    while (::flock(fd_.get(), LOCK_EX) < 0) {
      if (errno != EINTR) throw_errno("flock " + path_.string());
    }
    std::string text;
    char buf[65536];
    while (true) {
      ssize_t n = ::read(fd_.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      check_sys(n, "read " + path_.string());
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    table_ = parse_tag_lock(text, path_.string());
  } catch (...) {
    fd_.reset();  // a later set() starts again from opening
    throw;
  }
}

std::optional<Digest> TagLockFile::get(const std::string& name, const std::string& tag) const {
  auto it = table_.find(name);
  if (it == table_.end()) return std::nullopt;
  auto t = it->second.find(tag);
  if (t == it->second.end()) return std::nullopt;
  return t->second;
}

void TagLockFile::set(const std::string& name, const std::string& tag, const Digest& digest) {
  if (!fd_.valid()) {
    fd_.reset(
        check_sys(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644), "create " + path_.string()));
    lock_and_read();  // another process may have created it meanwhile
  }
  table_[name][tag] = digest;
  std::string text = format_tag_lock(table_);
  // Rewritten in place: a rename would leave waiters locking the old file.
  check_sys(::ftruncate(fd_.get(), 0), "truncate " + path_.string());
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::pwrite(fd_.get(), text.data() + off, text.size() - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    check_sys(n, "write " + path_.string());
    off += static_cast<size_t>(n);
  }
}

}  // namespace mael
