#pragma once
// Reading a build tool's output while it runs: OutputPump reads a pipe on a thread of its own
// (each chunk handed on as it comes, the whole text kept for the end of the run), and
// for_each_line reads a pipe line by line on the caller's thread.
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace mael {

class OutputPump {
 public:
  // `on_chunk(chunk, recent)`: `recent` is the chunk with up to 64 bytes of the text before it
  // (a word cut between two reads is whole in it). Runs on the pump's thread.
  using ChunkFn = std::function<void(std::string_view chunk, std::string_view recent)>;
  OutputPump(int fd, ChunkFn on_chunk);
  ~OutputPump();  // joins: the writer must have closed its end (or been killed)
  OutputPump(const OutputPump&) = delete;
  OutputPump& operator=(const OutputPump&) = delete;

  void join();
  std::string text();

 private:
  std::mutex mu_;
  std::string text_;
  std::thread thread_;
};

// Calls `f` on each line read from `fd` (without its newline; a last line without one too);
// stops early when f returns false.
void for_each_line(int fd, const std::function<bool(std::string_view)>& f);

}  // namespace mael
