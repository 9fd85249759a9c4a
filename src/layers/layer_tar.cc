#include "layers/layer_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <exception>
#include <map>
#include <memory>

#include "base/error.h"
#include "base/unique_fd.h"
#include "store/artifact_store.h"
#include "store/pax_writer.h"

namespace mael {

std::vector<LayerEntry> normalize_entries(std::vector<LayerEntry> entries) {
  std::map<std::string, LayerEntry> by_path;
  for (auto& e : entries) by_path[e.path] = std::move(e);
  std::vector<std::string> parents;
  for (const auto& [path, e] : by_path)
    for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
      parents.push_back(path.substr(0, slash));
  for (auto& p : parents) {
    if (by_path.count(p)) continue;
    LayerEntry dir;
    dir.kind = LayerEntry::kDir;
    dir.path = p;
    dir.mode = 0755;
    by_path.emplace(p, std::move(dir));
  }
  std::vector<LayerEntry> out;
  out.reserve(by_path.size());
  for (auto& [p, e] : by_path) out.push_back(std::move(e));
  return out;
}

std::string describe_entries(const std::vector<LayerEntry>& entries) {
  std::string out;
  for (const auto& e : entries) {
    out += "kfds"[e.kind == LayerEntry::kFile ? 1 : e.kind == LayerEntry::kDir ? 2 : 3];
    out += ' ' + std::to_string(e.mode) + ' ' + std::to_string(e.size) + ' ' + std::to_string(e.mtime) + ' ' +
           std::to_string(e.mtime_ns) + ' ' + std::to_string(e.ctime_ns) + ' ' + std::to_string(e.dev) + ' ' +
           std::to_string(e.ino) + ' ';
    // Lengths make the text unambiguous whatever the names contain.
    for (const std::string& s : {e.path, e.source.string(), e.target})
      out += std::to_string(s.size()) + ':' + s + ' ';
    out += '\n';
  }
  return out;
}

namespace {

struct WriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};

struct Sink {
  ArtifactStore::BlobWriter* blob;
  std::exception_ptr error;  // exceptions must not cross libarchive's C frames
};

la_ssize_t write_cb(archive* a, void* ud, const void* buf, size_t n) {
  auto* sink = static_cast<Sink*>(ud);
  try {
    sink->blob->write(buf, n);
  } catch (...) {
    sink->error = std::current_exception();
    archive_set_error(a, EIO, "cannot write to the store");
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

[[noreturn]] void fail(archive* a, const Sink& sink, const std::string& what) {
  if (sink.error) std::rethrow_exception(sink.error);
  const char* msg = archive_error_string(a);
  throw std::runtime_error("tar: " + what + (msg ? msg : "unknown error"));
}

void write_file_data(archive* a, const Sink& sink, const LayerEntry& e) {
  UniqueFd fd(open(e.source.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw_errno("open " + e.source.string());
  std::vector<char> buf(1 << 20);
  uint64_t left = e.size;
  while (left > 0) {
    ssize_t n = read(fd.get(), buf.data(), std::min<uint64_t>(left, buf.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read " + e.source.string());
    }
    if (n == 0) break;  // the file shrank: libarchive pads the rest with zeros
    if (archive_write_data(a, buf.data(), static_cast<size_t>(n)) < 0) fail(a, sink, e.path + ": ");
    left -= static_cast<uint64_t>(n);
  }
}

}  // namespace

Digest write_layer_tar(const std::vector<LayerEntry>& entries, ArtifactStore& store) {
  ArtifactStore::BlobWriter blob = store.begin_blob();
  {
    std::unique_ptr<archive, WriteDeleter> a(new_pax_writer());
    Sink sink{&blob, nullptr};
    if (archive_write_open2(a.get(), &sink, nullptr, write_cb, nullptr, nullptr) != ARCHIVE_OK)
      fail(a.get(), sink, "");
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> ae(archive_entry_new(), archive_entry_free);
    for (const auto& e : entries) {
      archive_entry_clear(ae.get());
      archive_entry_set_pathname(ae.get(), e.path.c_str());
      archive_entry_set_perm(ae.get(), e.mode & 07777);
      archive_entry_set_uid(ae.get(), 0);
      archive_entry_set_gid(ae.get(), 0);
      archive_entry_set_mtime(ae.get(), e.mtime, 0);
      switch (e.kind) {
        case LayerEntry::kFile:
          archive_entry_set_filetype(ae.get(), AE_IFREG);
          archive_entry_set_size(ae.get(), static_cast<la_int64_t>(e.size));
          break;
        case LayerEntry::kDir: archive_entry_set_filetype(ae.get(), AE_IFDIR); break;
        case LayerEntry::kSymlink:
          archive_entry_set_filetype(ae.get(), AE_IFLNK);
          archive_entry_set_symlink(ae.get(), e.target.c_str());
          break;
      }
      if (archive_write_header(a.get(), ae.get()) != ARCHIVE_OK) fail(a.get(), sink, e.path + ": ");
      if (e.kind == LayerEntry::kFile && e.size > 0) write_file_data(a.get(), sink, e);
    }
    if (archive_write_close(a.get()) != ARCHIVE_OK) fail(a.get(), sink, "");
  }
  return blob.commit();
}

}  // namespace mael
