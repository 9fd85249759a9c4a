#pragma once
// Bounds on what the parsers of user- and peer-controlled input accept (docs/security.md,
// "Parsers"). Past a bound the input is refused with a one-line error naming it; no parser
// recurses, allocates or expands without one, so no input can crash a tool by exhausting its
// stack or memory.
#include <cstddef>
#include <cstdint>

namespace mael::limits {

// JSON (job specs, image manifests and configs): arrays and objects nested this deep at most.
// serde_json's limit, so every job stream Maelstrom reads is read here too.
inline constexpr int kMaxJsonDepth = 128;
// One JSON value of a job stream (a job spec, or a {"containers": ...} object), in bytes.
inline constexpr size_t kMaxJsonValueBytes = size_t{16} << 20;

// TOML (test-runner spec files, the test listing, config files), in bytes.
inline constexpr size_t kMaxTomlBytes = size_t{64} << 20;
// TOML nesting: tables, arrays and inline tables, dotted keys and [a.b.c] headers counted level
// by level.
inline constexpr int kMaxTomlDepth = 128;

// Filters (-i/-x, directives' `filter`): parentheses and negations nested this deep at most.
// Chains of `&`, `|` and `-` may be any length.
inline constexpr int kMaxFilterDepth = 128;

// Brace expansion of `stubs`: entries one stubs layer may expand to, braces nested this deep,
// and the length of one expanded path (PATH_MAX).
inline constexpr size_t kMaxStubEntries = 10'000;
inline constexpr int kMaxBraceDepth = 32;
inline constexpr size_t kMaxStubPathBytes = 4096;

// Image manifests and indexes (the limit of the distribution registry and containerd), and
// image configs, in bytes.
inline constexpr size_t kMaxManifestBytes = size_t{4} << 20;
inline constexpr size_t kMaxImageConfigBytes = size_t{8} << 20;

// A job received from a cluster peer (on top of the message size bound, protocol.h): how many
// layers, mounts, devices of a mount, arguments and environment entries it may have, and how
// long one of its strings may be (execve's limit for one argument).
inline constexpr size_t kMaxJobLayers = 1024;
inline constexpr size_t kMaxJobMounts = 1024;
inline constexpr size_t kMaxJobStrings = 65536;
inline constexpr size_t kMaxJobStringBytes = size_t{128} << 10;

}  // namespace mael::limits
