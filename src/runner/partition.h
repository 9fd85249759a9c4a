#pragma once
// --partition: one share of a suite, so that N machines each run a disjoint part and together
// all of it (nextest's forms).
//   count:M/N  the binary's selected tests sorted by name, every Nth from the Mth on
//              (round-robin; counted per test binary, as nextest counts them);
//   hash:M/N   the tests whose name's stable hash (64-bit FNV-1a of the name as shown) is
//              M-1 modulo N, wherever they are.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mael {

struct Partition {
  enum class Kind : uint8_t { Count, Hash };
  Kind kind = Kind::Count;
  uint64_t shard = 1;  // M, from 1
  uint64_t total = 1;  // N
};

// Parses "count:M/N" or "hash:M/N" (1 <= M <= N). Throws UsageError naming the value and the
// accepted forms.
Partition parse_partition(std::string_view text);

uint64_t stable_name_hash(std::string_view name);

// Which of `names` (one binary's selected tests, as shown) are in the partition: a mask in the
// order given.
std::vector<bool> in_partition(const Partition& p, const std::vector<std::string>& names);

}  // namespace mael
