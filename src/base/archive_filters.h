#pragma once
// The compressions a tar may come in (gzip, bzip2, xz, lzma, lzip, zstd, compress), for a
// libarchive reader. Named one by one rather than archive_read_support_filter_all: that one also
// takes lz4, whose library has no static archive here (see cmake/static_deps.cmake).
#include <archive.h>

namespace mael {

inline void support_tar_compressions(archive* a) {
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_lzma(a);
  archive_read_support_filter_lzip(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_filter_compress(a);
}

}  // namespace mael
