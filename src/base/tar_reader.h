#pragma once
// A libarchive reader of tars, plain or compressed with gzip, bzip2, xz, lzma, lzip, zstd, lz4 or
// compress: the one setup every tar we read (layers, image archives) goes through. The
// compressions are named one by one rather than archive_read_support_filter_all, which also
// takes those libarchive runs an external program for (lrzip, lzop, grzip, uuencode...): a
// layer must not start programs. Each is linked in from its static archive (liblz4-dev ships
// liblz4.a; see cmake/static_deps.cmake).
// Header-only, so modules reading tars need not link one another for it.
#include <archive.h>

namespace mael {

// archive_read_new() set up for tars; null if libarchive is out of memory.
inline archive* new_tar_reader() {
  archive* a = archive_read_new();
  if (!a) return nullptr;
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_lzma(a);
  archive_read_support_filter_lzip(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_filter_lz4(a);
  archive_read_support_filter_compress(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_gnutar(a);
  return a;
}

}  // namespace mael
