#pragma once
// A libarchive writer of restricted pax tars (the format of every layer we write).
#include <archive.h>

namespace mael {

// archive_write_new() set to restricted pax; null if libarchive is out of memory.
archive* new_pax_writer();

}  // namespace mael
