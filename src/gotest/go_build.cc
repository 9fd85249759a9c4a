#include "gotest/go_build.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "base/error.h"
#include "base/fd_io.h"
#include "base/format.h"
#include "base/log.h"
#include "base/subprocess.h"
#include "base/unique_fd.h"
#include "runner/output_pump.h"

namespace mael {

namespace fs = std::filesystem;

FilterFields go_package_fields(const GoPackage& p) {
  return {{{"package_import_path", p.import_path}, {"package_path", p.path}, {"package_name", p.name}}, {}};
}

std::vector<size_t> go_build_order(const std::vector<GoPackage>& packages, const std::vector<size_t>& selected,
                                   const BuildSink& sink) {
  std::vector<size_t> order;
  for (size_t i : selected)
    if (packages[i].has_tests) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return sink.longest_known_test(packages[a].import_path) > sink.longest_known_test(packages[b].import_path);
  });
  return order;
}

TestBinary go_test_binary(const GoPackage& p, size_t index, const fs::path& executable) {
  TestBinary b;
  b.package = index;
  b.package_key = p.import_path;
  b.artifact = "test";  // Maelstrom's listing key for a Go package's one test binary
  b.executable = executable;
  b.fields = go_package_fields(p);
  return b;
}

std::vector<size_t> go_binary_groups(const std::vector<GoPackage>& packages) {
  std::vector<size_t> group(packages.size(), SIZE_MAX);
  std::vector<std::set<std::string>> names;
  for (size_t i = 0; i < packages.size(); ++i) {
    if (!packages[i].has_tests) continue;
    std::string name = go_built_binary_name(packages[i]);
    size_t g = 0;
    while (g < names.size() && names[g].count(name)) ++g;
    if (g == names.size()) names.emplace_back();
    names[g].insert(name);
    group[i] = g;
  }
  return group;
}

std::vector<std::string> failed_go_packages(std::string_view go_stderr, const std::set<std::string>& import_paths) {
  std::vector<std::string> named;
  auto take = [&](std::string path) {
    // An external test package (`package p_test`) is built as p's.
    if (!import_paths.count(path) && path.size() > 5 && path.compare(path.size() - 5, 5, "_test") == 0)
      path.resize(path.size() - 5);
    if (import_paths.count(path) && std::find(named.begin(), named.end(), path) == named.end())
      named.push_back(path);
  };
  size_t pos = 0;
  while (pos < go_stderr.size()) {
    size_t end = go_stderr.find('\n', pos);
    if (end == std::string_view::npos) end = go_stderr.size();
    std::string_view line = go_stderr.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() < 3 || line.substr(0, 2) != "# ") continue;
    line.remove_prefix(2);
    // "# p [p.test]", "# p_test [p.test]", "# p", "# [p]"
    size_t space = line.find(' ');
    if (!line.empty() && line[0] != '[') take(std::string(line.substr(0, space)));
    size_t open = line.find('[');
    size_t close = line.find(']', open);
    if (open != std::string_view::npos && close != std::string_view::npos) {
      std::string inner(line.substr(open + 1, close - open - 1));
      if (inner.size() > 5 && inner.compare(inner.size() - 5, 5, ".test") == 0) inner.resize(inner.size() - 5);
      take(inner);
    }
  }
  return named;
}

namespace {

// Whether both files exist and hold the same bytes.
bool same_contents(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  auto size = fs::file_size(a, ec);
  if (ec || size != fs::file_size(b, ec) || ec) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  std::vector<char> ba(1 << 16), bb(1 << 16);
  while (fa && fb) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    if (fa.gcount() != fb.gcount() || std::memcmp(ba.data(), bb.data(), static_cast<size_t>(fa.gcount())) != 0)
      return false;
  }
  return fa.eof() && fb.eof();
}

// One `go test -c -o STAGING/GROUP/ PKG...` per group, all at once (go bounds its own
// parallelism). A binary is reported when go moves it into its group's directory (inotify),
// so its tests start while the others build; binaries go found up to date are reported when
// their command ends. Packages whose tests ran longest last time come first on go's command
// line, which go builds first. go's error output is shown as it comes.
class GoBuild {
 public:
  GoBuild(const std::vector<GoPackage>& packages, const std::vector<size_t>& selected,
          const GoBuildOptions& options, BuildSink& sink, std::map<std::string, fs::path>* built)
      : packages_(packages), options_(options), sink_(sink), built_(built) {
    std::vector<size_t> groups = go_binary_groups(packages);
    for (size_t i : go_build_order(packages, selected, sink)) commands_[groups[i]].push_back(i);
  }

  BuildResult run() {
    // At most two commands at once (each loads the whole build graph and compiles on every
    // CPU), the first group, which holds most packages, first.
    std::vector<std::pair<size_t, const std::vector<size_t>*>> queue;
    for (const auto& [group, members] : commands_) queue.emplace_back(group, &members);
    size_t next = 0;
    std::vector<std::thread> threads;
    for (size_t t = 0; t < std::min<size_t>(2, queue.size()); ++t)
      threads.emplace_back([this, &queue, &next] {
        for (;;) {
          std::pair<size_t, const std::vector<size_t>*> command;
          {
            std::lock_guard lk(mu_);
            if (next >= queue.size() || ending()) return;
            command = queue[next++];
          }
          try {
            run_command(command.first, *command.second);
          } catch (...) {
            std::lock_guard lk(mu_);
            if (!error_) error_ = std::current_exception();
            ending();
            return;
          }
        }
      });
    for (auto& t : threads) t.join();
    if (error_) std::rethrow_exception(error_);
    BuildResult r;
    r.output = output_;
    r.cut_short = cut_short_;
    if (failure_) {
      r.exit_code = failure_->code;
      r.failure = mael::format("go test -c exited with code {}", failure_->code);
      if (!failure_->import_path.empty()) r.failure += " for package " + failure_->import_path;
    }
    return r;
  }

 private:
  // Whether building should stop: a build failed, something threw, or the run was stopped.
  // Then every build still running is killed. Under mu_.
  bool ending() {
    if (!failure_ && !error_ && !sink_.stop_requested()) return false;
    if (!failure_ && !error_) cut_short_ = true;
    for (ChildProcess* c : running_) c->kill();
    return true;
  }

  void run_command(size_t group, const std::vector<size_t>& members) {
    fs::path dir = options_.staging_dir / std::to_string(group);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw UserError("cannot create " + dir.string() + ": " + ec.message());
    std::map<std::string, size_t> by_name;
    for (size_t m : members) by_name[go_built_binary_name(packages_[m])] = m;
    // go moves each binary it links into the directory (renames it from its work directory, on
    // the same file system; a copy from elsewhere is taken when the command ends, whole). Without
    // inotify (its limits reached), every binary is taken then.
    UniqueFd watch(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (watch.get() >= 0 && inotify_add_watch(watch.get(), dir.c_str(), IN_MOVED_TO) < 0) watch.reset();
    if (watch.get() < 0)
      log::debug("go test -c: cannot watch {} ({}): binaries are taken when go ends", dir.string(),
                 std::strerror(errno));

    std::set<size_t> reported;
    auto take_written = [&] {  // binaries go has written since last time
      if (watch.get() < 0) return;
      alignas(inotify_event) char buf[8192];
      for (;;) {
        ssize_t n = read(watch.get(), buf, sizeof buf);
        if (n <= 0) return;  // EAGAIN: none left
        for (char* p = buf; p < buf + n;) {
          auto* event = reinterpret_cast<inotify_event*>(p);
          p += sizeof(inotify_event) + event->len;
          if (event->len == 0) continue;
          auto it = by_name.find(event->name);
          if (it != by_name.end() && reported.insert(it->second).second) report(it->second, dir / it->first);
        }
      }
    };

    std::vector<std::string> argv = {"go", "test", "-c", "-o", dir.string() + "/"};
    if (options_.vet) argv.push_back("--vet=" + *options_.vet);
    for (size_t m : members) argv.push_back(packages_[m].import_path);
    std::string stderr_text;
    int code = 0;
    {
      // Its own process group: killing it ends its compilers too.
      ChildProcess go(argv, ChildOptions{options_.module_root, -1, false, true});
      {
        std::lock_guard lk(mu_);
        running_.insert(&go);
        if (ending()) go.kill();  // an ending that came while this one started
      }
      struct Unregister {
        GoBuild& b;
        ChildProcess* c;
        ~Unregister() {
          std::lock_guard lk(b.mu_);
          b.running_.erase(c);
        }
      } unregister{*this, &go};
      // Shown live (go writes each package's messages in one piece, so two commands' messages
      // do not interleave within a package's).
      // A vet value go refuses is our one-line error instead (below): go's complaint, its first
      // line, is held back until that line is whole.
      std::string first_line;
      bool held = true;
      OutputPump err(go.stderr_fd(), [this, &first_line, &held](std::string_view chunk, std::string_view) {
        std::lock_guard lk(mu_);
        if (held) {
          first_line += chunk;
          if (first_line.find('\n') == std::string::npos) return;
          held = false;
          if (first_line.find("for flag -vet") != std::string::npos) return;  // and what follows
          chunk = first_line;
        } else if (first_line.find("for flag -vet") != std::string::npos) {
          return;
        }
        sink_.output(chunk);
        output_ += chunk;
      });
      // go's stdout (it prints nothing for `-c` but "[no test files]") ends when go does.
      pollfd fds[2] = {{watch.get(), POLLIN, 0}, {go.stdout_fd(), POLLIN, 0}};
      try {
        for (;;) {
          // Woken every 100 ms to see whether the run was stopped (--stop-after, a listing that
          // failed, a signal): then every go is killed.
          int ready = poll(fds, 2, 100);
          if (ready < 0) {
            if (errno == EINTR) continue;
            throw UserError(std::string("cannot wait for go test -c: ") + std::strerror(errno));
          }
          if (ready == 0) {
            std::lock_guard lk(mu_);
            ending();
            continue;
          }
          if (fds[0].revents) take_written();
          if (fds[1].revents) {
            char buf[4096];
            ssize_t n = read(go.stdout_fd(), buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
          }
        }
      } catch (...) {
        go.kill();  // before its output's pump, which waits for go's end, is joined
        throw;
      }
      code = go.wait();
      err.join();
      stderr_text = err.text();
      if (held && !first_line.empty() && first_line.find("for flag -vet") == std::string::npos) {
        std::lock_guard lk(mu_);  // a last line without its newline
        sink_.output(first_line);
        output_ += first_line;
      }
    }
    take_written();  // the last binaries, moved in just before go exited

    if (code != 0 && stderr_text.find("for flag -vet") != std::string::npos) {
      std::string line = stderr_text.substr(0, stderr_text.find('\n'));
      throw UsageError("vet value \"" + options_.vet.value_or("") + "\" refused by go: " + line +
                       " (`go tool vet help` lists the analyzers)");
    }
    {
      std::lock_guard lk(mu_);
      bool killed_by_us = code != 0 && (failure_ || error_ || cut_short_);
      if (killed_by_us) return;
      if (code != 0) {
        std::set<std::string> paths;
        for (size_t m : members) paths.insert(packages_[m].import_path);
        // The first failing package in package order is the one reported, as Maelstrom does.
        std::vector<std::string> failed = failed_go_packages(stderr_text, paths);
        size_t index = SIZE_MAX;
        std::string failed_path;
        for (size_t m : members)
          if (m < index && std::find(failed.begin(), failed.end(), packages_[m].import_path) != failed.end()) {
            index = m;
            failed_path = packages_[m].import_path;
          }
        if (!failure_ || index < failure_->package) failure_ = Failure{index, code, failed_path};
        ending();
        return;
      }
      if (failure_ || error_) return;
    }
    // Binaries go found up to date (it wrote nothing), in the order of the command line.
    for (size_t m : members) {
      if (reported.count(m)) continue;
      fs::path built = dir / go_built_binary_name(packages_[m]);
      if (!fs::exists(built, ec))
        throw UserError("go test -c ended without error but wrote no test binary for package " +
                        packages_[m].import_path + " (expected " + built.string() + ")");
      report(m, built);
    }
  }

  // The binary go left at `built` goes to the package's place among the test binaries, copied
  // only when its bytes differ there (an unchanged binary keeps its layer and test list), and
  // is handed to the driver.
  void report(size_t index, const fs::path& built) {
    const GoPackage& p = packages_[index];
    fs::path out = go_test_binary_path(options_.binaries_dir, p);
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    if (ec) throw UserError("cannot create " + out.parent_path().string() + ": " + ec.message());
    if (!same_contents(out, built)) {
      fs::path tmp = out;
      tmp += ".tmp";
      // Not fs::copy_file: its descriptor, inherited by a `go` started meanwhile, would keep the
      // binary from being listed (ETXTBSY) until that command ends.
      try {
        copy_file_contents(built.string(), tmp.string(), 0755);
      } catch (const UserError& e) {
        throw UserError("cannot copy " + built.string() + " to " + out.string() + ": " + e.what());
      }
      fs::rename(tmp, out, ec);
      if (ec) throw UserError("cannot copy " + built.string() + " to " + out.string() + ": " + ec.message());
    }
    std::lock_guard lk(mu_);
    if (failure_ || error_) return;  // no new tests once the build has failed
    if (built_) (*built_)[p.import_path] = out;
    sink_.ready(go_test_binary(p, index, out));  // under mu_: listing with --list-tests happens here, one at a time
  }

  struct Failure {
    size_t package;  // SIZE_MAX: go's output named none of the command's packages
    int code;
    std::string import_path;
  };
  const std::vector<GoPackage>& packages_;
  const GoBuildOptions& options_;
  BuildSink& sink_;
  std::map<std::string, fs::path>* built_;
  std::map<size_t, std::vector<size_t>> commands_;  // group -> its selected packages, in build order
  std::mutex mu_;
  std::set<ChildProcess*> running_;
  std::optional<Failure> failure_;
  bool cut_short_ = false;
  std::string output_;
  std::exception_ptr error_;
};

}  // namespace

BuildResult build_go_test_binaries(const std::vector<GoPackage>& packages, const std::vector<size_t>& selected,
                                   const GoBuildOptions& options, BuildSink& sink,
                                   std::map<std::string, fs::path>* built) {
  GoBuild build(packages, selected, options, sink, built);
  return build.run();
}

}  // namespace mael
