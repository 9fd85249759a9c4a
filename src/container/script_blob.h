#pragma once
// The job script travels from the runtime to the container's init (a separate
// program, see child.h) as one relocatable blob:
//
//   BlobHeader | child::Script | strings, arrays, mount ops | relocations
//
// Every pointer in the blob is stored as an offset from the blob's start, and
// the relocation table lists the offsets of those pointer fields; the init
// reads the blob into memory of its own and adds its address to each
// (relocate_script). Runtime and init are built by the same compiler from the
// same headers, so the layout is the same on both sides.
#include <cstddef>
#include <cstdint>

#include "container/child.h"

namespace mael::child {

struct BlobHeader {
  uint64_t relocs_offset;  // where the table of pointer-field offsets starts
  uint64_t n_relocs;
};

// A blob larger than this is refused (the kernel refuses larger argument and
// environment lists anyway).
constexpr uint64_t kMaxScriptSize = uint64_t{64} << 20;

// The Script a blob holds, its pointers made valid for a blob at `base`, or
// nullptr when the blob is malformed. Freestanding: used by the init.
inline const Script* relocate_script(char* base, uint64_t size) {
  if (size < sizeof(BlobHeader) + sizeof(Script)) return nullptr;
  const auto* header = reinterpret_cast<const BlobHeader*>(base);
  const uint64_t table = header->relocs_offset, n = header->n_relocs;
  if (table > size || n > (size - table) / sizeof(uint64_t) || table % alignof(uint64_t) != 0) return nullptr;
  const auto* relocs = reinterpret_cast<const uint64_t*>(base + table);
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t field = relocs[i];
    if (field > size - sizeof(uint64_t) || field % alignof(uint64_t) != 0) return nullptr;
    auto* slot = reinterpret_cast<uint64_t*>(base + field);
    if (*slot >= size) return nullptr;
    *slot += reinterpret_cast<uint64_t>(base);
  }
  return reinterpret_cast<const Script*>(base + sizeof(BlobHeader));
}

}  // namespace mael::child
