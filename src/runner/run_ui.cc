#include "runner/run_ui.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <shared_mutex>
#include <thread>

#include "base/error.h"

namespace mael {

std::optional<UiKind> ui_kind_from_name(std::string_view name) {
  if (name == "auto") return UiKind::Auto;
  if (name == "simple") return UiKind::Simple;
  if (name == "fancy") return UiKind::Fancy;
  if (name == "quiet") return UiKind::Quiet;
  return std::nullopt;
}

UiKind effective_ui_kind(UiKind requested, bool stdout_tty) {
  if (requested == UiKind::Auto) return stdout_tty ? UiKind::Fancy : UiKind::Simple;
  if (requested == UiKind::Fancy && !stdout_tty)
    throw UserError("--ui fancy needs standard output to be a terminal: use --ui simple or --ui auto");
  return requested;
}

size_t terminal_width(int fd) {
  winsize ws{};
  if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

namespace {

void write_lines(FILE* f, const std::vector<std::string>& lines) {
  for (const auto& l : lines) {
    std::fwrite(l.data(), 1, l.size(), f);
    std::fputc('\n', f);
  }
}

std::string bar(size_t n, size_t total, size_t width) {
  size_t filled = total == 0 ? 0 : std::min(width, n * width / total);
  return "[" + std::string(filled, '#') + std::string(width - filled, '-') + "]";
}

std::string fit(std::string s, size_t width) {
  if (text_width(s) <= width) return s;
  // Cut by code points from the end (names keep their informative tail).
  while (!s.empty() && text_width(s) + 1 > width) {
    size_t i = 1;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
    s.erase(0, i);
  }
  return "<" + s;
}

class SimpleUi : public RunUi {
 public:
  explicit SimpleUi(const UiSettings& s) : s_(s) {}
  // A build cut short (a listing failed) may leave its last line unfinished: what comes after it
  // (a message, or the run's error once this is gone) starts on a line of its own.
  ~SimpleUi() override { end_build_line(); }
  void build_output(std::string_view chunk) override {
    std::lock_guard lk(mu_);
    std::fwrite(chunk.data(), 1, chunk.size(), s_.err);
    std::fflush(s_.err);
    if (!chunk.empty()) mid_line_ = chunk.back() != '\n';
  }
  void list_line(const std::string& line) override {
    std::lock_guard lk(mu_);
    write_lines(s_.out, {line});
  }
  void job_finished(uint64_t, const TestResult& r) override {
    std::vector<std::string> out;
    format_result(r, s_.width, false, out);
    std::lock_guard lk(mu_);
    write_lines(s_.out, out);
    std::fflush(s_.out);
  }
  void message(const std::string& line) override {
    end_build_line();
    std::lock_guard lk(mu_);
    write_lines(s_.err, {line});
  }
  void finish(const std::vector<std::string>& summary, const std::string&) override {
    // The build output was already shown as it came.
    end_build_line();
    std::lock_guard lk(mu_);
    write_lines(s_.out, summary);
    std::fflush(s_.out);
  }

 private:
  void end_build_line() {
    std::lock_guard lk(mu_);
    if (!mid_line_) return;
    std::fputc('\n', s_.err);
    std::fflush(s_.err);
    mid_line_ = false;
  }

  UiSettings s_;
  std::mutex mu_;
  bool mid_line_ = false;  // the build's output ended without a newline so far
};

class QuietUi : public RunUi {
 public:
  explicit QuietUi(const UiSettings& s) : s_(s) {}
  void build_output(std::string_view) override {}
  void list_line(const std::string& line) override {
    std::lock_guard lk(mu_);
    write_lines(s_.out, {line});
  }
  void job_finished(uint64_t, const TestResult&) override {}
  void message(const std::string& line) override {
    std::lock_guard lk(mu_);
    write_lines(s_.err, {line});
  }
  void finish(const std::vector<std::string>& summary, const std::string& warnings) override {
    std::lock_guard lk(mu_);
    write_lines(s_.out, summary);
    if (!warnings.empty()) std::fputs(warnings.c_str(), s_.err);
    std::fflush(s_.out);
    std::fflush(s_.err);
  }

 private:
  UiSettings s_;
  std::mutex mu_;
};

// What a live UI draws under the finished tests' lines on a terminal:
//   Full:   Maelstrom's fancy UI: running tests, build output, the four state bars.
//   Bars:   Maelstrom's simple UI on a terminal: the four state bars; build output as it comes.
//   OneBar: Maelstrom's quiet UI on a terminal: one bar of completed tests, no per-test lines.
enum class LiveStyle : uint8_t { Full, Bars, OneBar };

// Redraws the live area from a ticker thread (at most ~10 times a second) so that thousands of
// short tests do not flood the terminal with redraws.
class LiveUi : public RunUi {
 public:
  LiveUi(const UiSettings& s, LiveStyle style) : s_(s), style_(style) {
    ticker_ = std::thread([this] { tick_loop(); });
  }
  ~LiveUi() override { stop(); }

  void build_output(std::string_view chunk) override {
    std::lock_guard lk(mu_);
    if (style_ == LiveStyle::OneBar) return;  // the warnings come with the summary
    if (style_ == LiveStyle::Bars) {
      // As the simple UI without a terminal: straight to stderr, above the bars.
      clear_live();
      std::fflush(s_.out);
      std::fwrite(chunk.data(), 1, chunk.size(), s_.err);
      std::fflush(s_.err);
      dirty_ = true;
      return;
    }
    state_.building = true;
    for (char c : chunk) {
      if (c == '\n') {
        push_build_line(std::move(partial_));
        partial_.clear();
      } else if (c == '\r') {
        partial_.clear();
      } else {
        partial_ += c;
      }
    }
    dirty_ = true;
  }
  void build_done() override {
    std::lock_guard lk(mu_);
    state_.building = false;
    state_.build_lines.clear();
    dirty_ = true;
  }
  void list_line(const std::string& line) override {
    std::lock_guard lk(mu_);
    above_.push_back(line);
    dirty_ = true;
  }
  void expected_jobs(size_t n) override {
    std::lock_guard lk(mu_);
    state_.expected = std::max(state_.expected, n);
    dirty_ = true;
  }
  void job_enqueued(uint64_t id, const std::string& name) override {
    std::lock_guard lk(mu_);
    jobs_[id] = {name, JobState::WaitingForArtifacts, {}};
    dirty_ = true;
  }
  void job_state(uint64_t id, JobState st) override {
    std::lock_guard lk(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    it->second.state = st;
    if (st == JobState::Running) it->second.started = std::chrono::steady_clock::now();
    dirty_ = true;
  }
  void job_finished(uint64_t id, const TestResult& r) override {
    std::vector<std::string> out;
    if (style_ != LiveStyle::OneBar) format_result(r, s_.width, true, out);
    std::lock_guard lk(mu_);
    jobs_.erase(id);
    ++state_.completed;
    if (r.failed()) ++state_.failed;
    if (r.status == TestStatus::Cached) ++state_.cached;
    above_.insert(above_.end(), out.begin(), out.end());
    dirty_ = true;
  }
  void message(const std::string& line) override {
    std::lock_guard lk(mu_);
    above_.push_back(line);
    dirty_ = true;
  }
  void finish(const std::vector<std::string>& summary, const std::string& warnings) override {
    stop();
    std::lock_guard lk(mu_);
    clear_live();
    flush_above();
    write_lines(s_.out, summary);
    // Bars: the build output was shown as it came.
    if (!warnings.empty() && style_ == LiveStyle::Full) std::fputs(warnings.c_str(), s_.out);
    std::fflush(s_.out);
    if (!warnings.empty() && style_ == LiveStyle::OneBar) {
      std::fputs(warnings.c_str(), s_.err);
      std::fflush(s_.err);
    }
  }
  void abandon() override {
    stop();
    std::lock_guard lk(mu_);
    clear_live();
    flush_above();
    std::fflush(s_.out);
  }

 private:
  struct Job {
    std::string name;
    JobState state;
    std::chrono::steady_clock::time_point started;
  };

  void push_build_line(std::string line) {
    state_.build_lines.push_back(std::move(line));
    if (state_.build_lines.size() > 4) state_.build_lines.erase(state_.build_lines.begin());
  }

  void stop() {
    {
      std::lock_guard lk(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (ticker_.joinable()) ticker_.join();
  }

  void tick_loop() {
    std::unique_lock lk(mu_);
    while (!stopping_) {
      cv_.wait_for(lk, std::chrono::milliseconds(100));
      if (stopping_) break;
      redraw();
    }
  }

  void clear_live() {
    if (live_lines_ > 0) std::fprintf(s_.out, "\x1b[%zuF\x1b[J", live_lines_);
    live_lines_ = 0;
  }

  void flush_above() {
    write_lines(s_.out, above_);
    above_.clear();
  }

  // Called with mu_ held. Running tests also count elapsed time, so redraw while any run.
  void redraw() {
    LiveState snap = state_;
    snap.waiting = snap.pending = snap.running = 0;
    auto now = std::chrono::steady_clock::now();
    for (const auto& [id, j] : jobs_) {
      switch (j.state) {
        case JobState::WaitingForArtifacts: ++snap.waiting; break;
        case JobState::Pending: ++snap.pending; break;
        case JobState::Running:
          ++snap.running;
          snap.running_tests.emplace_back(j.name, now - j.started);
          break;
        case JobState::Completed: break;
      }
    }
    if (!dirty_ && (snap.running == 0 || style_ != LiveStyle::Full)) return;
    dirty_ = false;
    snap.expected = std::max(snap.expected, snap.completed + jobs_.size());
    std::vector<std::string> live;
    if (style_ == LiveStyle::OneBar) {
      live.push_back(render_one_bar(snap, s_.width));
    } else {
      if (style_ == LiveStyle::Bars) {
        snap.running_tests.clear();
        snap.building = false;
      }
      std::sort(snap.running_tests.begin(), snap.running_tests.end(),
                [](const auto& a, const auto& b) { return a.second > b.second; });
      live = render_live_area(snap, s_.width);
    }
    clear_live();
    flush_above();
    write_lines(s_.out, live);
    live_lines_ = live.size();
    std::fflush(s_.out);
  }

  UiSettings s_;
  LiveStyle style_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool dirty_ = true;
  LiveState state_;
  std::string partial_;
  std::map<uint64_t, Job> jobs_;
  std::vector<std::string> above_;
  size_t live_lines_ = 0;
  std::thread ticker_;
};

// Forwards to the UI until abandon(), then nothing: the one place that mutes a run's output.
class AbandonableUi : public RunUi {
 public:
  explicit AbandonableUi(std::unique_ptr<RunUi> inner) : inner_(std::move(inner)) {}
  void build_output(std::string_view chunk) override {
    forward([&](RunUi& u) { u.build_output(chunk); });
  }
  void build_done() override {
    forward([](RunUi& u) { u.build_done(); });
  }
  void list_line(const std::string& line) override {
    forward([&](RunUi& u) { u.list_line(line); });
  }
  void expected_jobs(size_t n) override {
    forward([&](RunUi& u) { u.expected_jobs(n); });
  }
  void job_enqueued(uint64_t id, const std::string& name) override {
    forward([&](RunUi& u) { u.job_enqueued(id, name); });
  }
  void job_state(uint64_t id, JobState st) override {
    forward([&](RunUi& u) { u.job_state(id, st); });
  }
  void job_finished(uint64_t id, const TestResult& r) override {
    forward([&](RunUi& u) { u.job_finished(id, r); });
  }
  void message(const std::string& line) override {
    forward([&](RunUi& u) { u.message(line); });
  }
  void finish(const std::vector<std::string>& summary, const std::string& warnings) override {
    forward([&](RunUi& u) { u.finish(summary, warnings); });
  }
  void abandon() override {
    std::unique_lock lk(mu_);
    if (abandoned_) return;
    abandoned_ = true;
    inner_->abandon();
  }

 private:
  // Shared for the calls (the UIs lock for themselves), exclusive for abandon().
  template <typename F>
  void forward(F&& f) {
    std::shared_lock lk(mu_);
    if (!abandoned_) f(*inner_);
  }

  std::unique_ptr<RunUi> inner_;
  std::shared_mutex mu_;
  bool abandoned_ = false;
};

}  // namespace

namespace {

// " (N failed, M cached)" after the completed count; either part alone, or nothing.
std::string completed_notes(const LiveState& s) {
  std::string notes;
  if (s.failed > 0) notes = std::to_string(s.failed) + " failed";
  if (s.cached > 0) notes += (notes.empty() ? "" : ", ") + std::to_string(s.cached) + " cached";
  return notes.empty() ? notes : " (" + notes + ")";
}

}  // namespace

std::vector<std::string> render_live_area(const LiveState& s, size_t width, size_t max_running) {
  std::vector<std::string> lines;
  size_t total = std::max(s.expected, s.completed + s.waiting + s.pending + s.running);
  if (!s.running_tests.empty()) {
    lines.push_back(fit("running tests:", width));
    size_t shown = 0;
    for (const auto& [name, elapsed] : s.running_tests) {
      if (shown++ == max_running) {
        lines.push_back("  ... and " + std::to_string(s.running_tests.size() - max_running) + " more");
        break;
      }
      char secs[32];
      std::snprintf(secs, sizeof secs, " %5.1fs", std::chrono::duration<double>(elapsed).count());
      lines.push_back("  " + fit(name, width > 12 ? width - 10 : width) + secs);
    }
  }
  if (s.building) {
    lines.push_back("build output:");
    for (const auto& b : s.build_lines) lines.push_back("  " + fit(b, width > 4 ? width - 3 : width));
  }
  size_t bar_width = width > 40 ? std::min<size_t>(width - 36, 50) : 10;
  auto row = [&](const char* label, size_t n) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%-10s", label);
    char count[48];
    std::snprintf(count, sizeof count, " %zu/%zu", n, total);
    lines.push_back(std::string(buf) + bar(n, total, bar_width) + count);
  };
  // Cumulative, as jobs move waiting -> pending -> running -> completed.
  row("waiting", s.waiting + s.pending + s.running + s.completed);
  row("pending", s.pending + s.running + s.completed);
  row("running", s.running + s.completed);
  row("completed", s.completed);
  lines.back() += completed_notes(s);
  return lines;
}

std::string render_one_bar(const LiveState& s, size_t width) {
  size_t total = std::max(s.expected, s.completed + s.waiting + s.pending + s.running);
  std::string count = " " + std::to_string(s.completed) + "/" + std::to_string(total) + " tests";
  count += completed_notes(s);
  size_t bar_width = width > count.size() + 12 ? std::min<size_t>(width - count.size() - 2, 60) : 10;
  return bar(s.completed, total, bar_width) + count;
}

std::unique_ptr<RunUi> make_run_ui(const UiSettings& settings) {
  std::unique_ptr<RunUi> ui;
  // On a terminal, simple and quiet show progress too, as Maelstrom's do.
  switch (effective_ui_kind(settings.kind, settings.stdout_tty)) {
    case UiKind::Fancy: ui = std::make_unique<LiveUi>(settings, LiveStyle::Full); break;
    case UiKind::Quiet:
      if (settings.stdout_tty)
        ui = std::make_unique<LiveUi>(settings, LiveStyle::OneBar);
      else
        ui = std::make_unique<QuietUi>(settings);
      break;
    default:
      if (settings.stdout_tty)
        ui = std::make_unique<LiveUi>(settings, LiveStyle::Bars);
      else
        ui = std::make_unique<SimpleUi>(settings);
      break;
  }
  return std::make_unique<AbandonableUi>(std::move(ui));
}

}  // namespace mael
