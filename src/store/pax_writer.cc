#include "store/pax_writer.h"

#include <archive_entry.h>

#include <cerrno>

namespace mael {

archive* new_pax_writer() {
  archive* a = archive_write_new();
  if (a) archive_write_set_format_pax_restricted(a);
  return a;
}

}  // namespace mael

// libarchive's pax writer reports unsupported file types through this internal function, which
// lives in the object that also holds the table of every write format: linking that object from
// the static archive drags in the xar writer and with it libxml2 and ICU (~30 MB). Defined here,
// in the object every pax writer links (see new_pax_writer), so the linker never needs that one.
// Same contract: an error on the archive, for an entry whose type the format cannot hold.
extern "C" void __archive_write_entry_filetype_unsupported(archive* a, archive_entry* entry,
                                                           const char* format) {
  const char* path = archive_entry_pathname(entry);
  archive_set_error(a, EILSEQ, "%s: %s format cannot archive this type of file (mode %o)",
                    path ? path : "(unnamed)", format, static_cast<unsigned>(archive_entry_mode(entry)));
}
