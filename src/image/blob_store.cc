#include "image/blob_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/fd_io.h"

namespace mael {
namespace fs = std::filesystem;

FileLock::FileLock(const fs::path& path, Mode mode)
    : fd_(check_sys(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644), "open " + path.string())) {
  while (::flock(fd_.get(), mode == Mode::kShared ? LOCK_SH : LOCK_EX) < 0) {
    if (errno != EINTR) throw_errno("flock " + path.string());
  }
}

std::unique_ptr<FileLock> FileLock::try_exclusive(const fs::path& path) {
  UniqueFd fd(check_sys(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644), "open " + path.string()));
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return nullptr;
    throw_errno("flock " + path.string());
  }
  return std::unique_ptr<FileLock>(new FileLock(std::move(fd)));
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

BlobStore::BlobStore(fs::path root) : root_(std::move(root)) {
  fs::create_directories(root_ / "blobs" / "sha256");
  fs::create_directories(root_ / "locks");
  fs::create_directories(root_ / "tmp");
}

fs::path BlobStore::blob_path(const Digest& d) const {
  return root_ / "blobs" / "sha256" / d.hex();
}

bool BlobStore::has(const Digest& d) const {
  std::error_code ec;
  return fs::is_regular_file(blob_path(d), ec);
}

fs::path BlobStore::ensure(const Digest& d, const Fill& fill, const std::string& what) {
  fs::path final_path = blob_path(d);
  if (has(d)) return final_path;
  FileLock lock(root_ / "locks" / (d.hex() + ".lock"));
  if (has(d)) return final_path;  // another process or thread filled it meanwhile
  fs::path partial = final_path;
  partial += ".partial";
  Digest got = fill(partial);
  if (got != d) {
    std::error_code ec;
    fs::remove(partial, ec);
    throw UserError(what + ": digest mismatch (expected sha256:" + d.hex() + ", got sha256:" + got.hex() +
                    ")");
  }
  fs::rename(partial, final_path);
  return final_path;
}

void BlobStore::put(const Digest& d, std::string_view bytes, const std::string& what) {
  ensure(
      d,
      [&](const fs::path& partial) {
        std::ofstream out(partial, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.close();
        if (!out) throw std::runtime_error("cannot write " + partial.string());
        return Digest::of_bytes(bytes);
      },
      what);
}

std::string BlobStore::read(const Digest& d) const {
  std::ifstream in(blob_path(d), std::ios::binary);
  if (!in) throw std::runtime_error("cannot read blob sha256:" + d.hex());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path BlobStore::make_temp_dir() const {
  std::string templ = (root_ / "tmp" / "import-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) throw_errno("mkdtemp " + templ);
  return templ;
}

Digest copy_and_hash(const fs::path& from, const fs::path& to) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) throw_errno("open " + from.string());
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out.valid()) throw_errno("create " + to.string());
  Sha256 sha;
  std::string buf(1 << 20, '\0');
  while (true) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    check_sys(n, "read " + from.string());
    if (n == 0) break;
    sha.update(buf.data(), static_cast<size_t>(n));
    write_all(out.get(), buf.data(), static_cast<size_t>(n), "write " + to.string());
  }
  check_sys(::close(out.release()), "close " + to.string());
  return sha.finish();
}

}  // namespace mael
