#include "runner/partition.h"

#include <algorithm>
#include <numeric>

#include "base/error.h"

namespace mael {

namespace {

std::optional<uint64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

Partition parse_partition(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return UsageError("--partition " + std::string(text) + ": " + why +
                      "; give count:M/N or hash:M/N with 1 <= M <= N (e.g. count:1/3)");
  };
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) throw bad("no kind");
  std::string_view kind = text.substr(0, colon);
  Partition p;
  if (kind == "count")
    p.kind = Partition::Kind::Count;
  else if (kind == "hash")
    p.kind = Partition::Kind::Hash;
  else
    throw bad("unknown kind \"" + std::string(kind) + "\"");
  std::string_view rest = text.substr(colon + 1);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) throw bad("no M/N");
  std::optional<uint64_t> m = parse_number(rest.substr(0, slash));
  std::optional<uint64_t> n = parse_number(rest.substr(slash + 1));
  if (!m || !n) throw bad("M and N must be whole numbers");
  if (*n == 0 || *m == 0 || *m > *n) throw bad("M must be between 1 and N");
  p.shard = *m;
  p.total = *n;
  return p;
}

uint64_t stable_name_hash(std::string_view name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::vector<bool> in_partition(const Partition& p, const std::vector<std::string>& names) {
  std::vector<bool> in(names.size(), false);
  if (p.kind == Partition::Kind::Hash) {
    for (size_t i = 0; i < names.size(); ++i) in[i] = stable_name_hash(names[i]) % p.total == p.shard - 1;
    return in;
  }
  std::vector<size_t> order(names.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return names[a] < names[b]; });
  for (size_t k = 0; k < order.size(); ++k) in[order[k]] = k % p.total == p.shard - 1;
  return in;
}

}  // namespace mael
