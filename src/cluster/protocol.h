#pragma once
// Constants of the cluster protocol (proto/cluster.proto) shared by the broker,
// workers, clients and the admin tool.
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace mael::cluster {

// Bump whenever proto/cluster.proto changes incompatibly.
inline constexpr uint32_t kProtocolVersion = 2;

// Artifacts move in chunks of this many bytes.
inline constexpr size_t kChunkSize = 1 << 20;

// No single message may exceed this: chunks are 1 MiB, and a job's outcome
// carries at most two inline streams (the worker caps its inline limit).
inline constexpr int kMaxMessageBytes = 16 << 20;
inline constexpr size_t kMaxInlineLimit = 6 << 20;

// Workers send a heartbeat this often; the broker drops a worker it has not
// heard from for the broker's heartbeat timeout.
inline constexpr std::chrono::milliseconds kHeartbeatInterval{2000};
inline constexpr std::chrono::milliseconds kDefaultHeartbeatTimeout{15000};

// A worker offers 1 to this many slots.
inline constexpr uint32_t kMaxWorkerSlots = 1000;

// A job lost on more than this many workers (each vanished while holding it)
// ends with a System error instead of being queued again.
inline constexpr int kMaxJobLosses = 3;

}  // namespace mael::cluster
