#pragma once
// For tests of the run loop and of what drives it: a RunUi that keeps "NAME STATUS" for every
// finished test, in order.
#include <mutex>
#include <string>
#include <vector>

#include "runner/run_ui.h"

namespace mael {

class RecordingUi : public RunUi {
 public:
  void build_output(std::string_view) override {}
  void list_line(const std::string&) override {}
  void job_finished(uint64_t, const TestResult& r) override {
    std::lock_guard lk(mu);
    finished.push_back(r.name + " " + test_status_word(r.status));
  }
  void message(const std::string&) override {}
  void finish(const std::vector<std::string>&, const std::string&) override {}
  std::mutex mu;
  std::vector<std::string> finished;
};

}  // namespace mael
