// Per-job overhead of the container runtime against bare process spawning and
// bubblewrap: N runs of a static busybox `true` each, sequential and with
// parallel runners, all in one process run so the machine state is shared.
//
//   container_overhead [-n JOBS] [-p PARALLEL] [--no-bwrap]
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "container/runtime.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// One job: returns true if it ran and exited 0.
using Job = std::function<bool()>;

bool wait_ok(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool fork_exec(const char* path, char* const argv[]) {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    execve(path, argv, environ);
    _exit(127);
  }
  return wait_ok(pid);
}

bool spawn(const char* path, char* const argv[]) {
  pid_t pid;
  if (posix_spawn(&pid, path, nullptr, nullptr, argv, environ) != 0) return false;
  return wait_ok(pid);
}

// Microseconds per job with `parallel` runners sharing n jobs.
double measure(const Job& job, int n, int parallel, int& failures) {
  std::atomic<int> next{0}, failed{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < parallel; ++t)
    threads.emplace_back([&] {
      while (next.fetch_add(1) < n)
        if (!job()) ++failed;
    });
  for (auto& t : threads) t.join();
  failures += failed.load();
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / n;
}

void make_layers(const fs::path& dir, std::vector<fs::path>& layers, fs::path& merged) {
  // Layer 0: busybox with true; layers 1 and 2: a few files each. `merged`
  // is the same tree in one directory, for bwrap (which has no overlay here).
  for (const char* l : {"layer0", "layer1", "layer2", "merged"}) {
    fs::path root = dir / l;
    fs::create_directories(root);
    bool base = std::string(l) == "layer0" || std::string(l) == "merged";
    if (base) {
      for (const char* d : {"bin", "proc", "tmp", "dev", "etc"}) fs::create_directories(root / d);
      fs::copy_file("/bin/busybox", root / "bin/busybox");
      fs::create_symlink("busybox", root / "bin/true");
    }
    if (l != std::string("layer0")) {
      fs::create_directories(root / "etc");
      std::ofstream(root / "etc" / (std::string(l) + ".conf")) << l << "\n";
    }
    if (l == std::string("merged")) {
      std::ofstream(root / "etc/layer1.conf") << "layer1\n";
      std::ofstream(root / "etc/layer2.conf") << "layer2\n";
    } else {
      layers.push_back(root);
    }
  }
  merged = dir / "merged";
}

}  // namespace

int main(int argc, char** argv) {
  int n = 1000, parallel = 2;
  bool with_bwrap = access("/usr/bin/bwrap", X_OK) == 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-n" && i + 1 < argc) n = std::atoi(argv[++i]);
    else if (a == "-p" && i + 1 < argc) parallel = std::atoi(argv[++i]);
    else if (a == "--no-bwrap") with_bwrap = false;
    else {
      std::fprintf(stderr, "usage: %s [-n JOBS] [-p PARALLEL] [--no-bwrap]\n", argv[0]);
      return 2;
    }
  }
  try {
    mael::Runtime::check_support();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }

  char dir_template[] = "/tmp/mael-bench-XXXXXX";
  if (!mkdtemp(dir_template)) return 1;
  fs::path dir = dir_template;
  std::vector<fs::path> layers;
  fs::path merged;
  make_layers(dir, layers, merged);
  std::string true_path = (merged / "bin/true").string();

  char* true_argv[] = {const_cast<char*>("true"), nullptr};
  std::string merged_s = merged.string();
  std::vector<std::string> bwrap_args = {"bwrap", "--unshare-all", "--ro-bind", merged_s, "/", "--proc",
                                         "/proc", "--tmpfs", "/tmp", "/bin/true"};
  std::vector<char*> bwrap_argv;
  for (auto& a : bwrap_args) bwrap_argv.push_back(a.data());
  bwrap_argv.push_back(nullptr);

  mael::ContainerConfig config;
  config.lower_dirs = layers;
  config.program = "/bin/true";
  config.mounts = {mael::Mount{mael::MountType::Proc, "/proc"}, mael::Mount{mael::MountType::Tmp, "/tmp"}};
  config.network = mael::Network::Disabled;

  auto runtime_job = [&](mael::Runtime& rt, mael::Network net) {
    return [&rt, &config, net] {
      mael::ContainerConfig c = config;
      c.network = net;
      auto o = rt.run(c);
      auto* e = std::get_if<mael::Exited>(&o.result);
      if (!e) {
        if (auto* j = std::get_if<mael::JobError>(&o.result)) std::fprintf(stderr, "job error: %s\n", j->message.c_str());
      }
      return e && e->code == 0;
    };
  };
  mael::Runtime prepared(dir / "scratch-prepared", mael::RuntimeOptions{2});
  mael::Runtime on_demand(dir / "scratch-on-demand", mael::RuntimeOptions{0});

  struct Row {
    std::string name;
    Job job;
    double seq = 0, par = 0;
  };
  std::vector<Row> rows = {
      {"fork+execve (bare)", [&] { return fork_exec(true_path.c_str(), true_argv); }},
      {"posix_spawn (bare)", [&] { return spawn(true_path.c_str(), true_argv); }},
      {"runtime, prepared namespaces", runtime_job(prepared, mael::Network::Disabled)},
      {"runtime, on demand", runtime_job(on_demand, mael::Network::Disabled)},
      {"runtime, on demand, network=local", runtime_job(on_demand, mael::Network::Local)},
  };
  if (with_bwrap)
    rows.push_back({"bwrap --unshare-all", [&] { return spawn("/usr/bin/bwrap", bwrap_argv.data()); }});

  int failures = 0;
  for (auto& r : rows) {
    measure(r.job, std::min(n / 10 + 1, 50), 1, failures);  // warm up (and fill pools)
    r.seq = measure(r.job, n, 1, failures);
    r.par = parallel > 1 ? measure(r.job, n, parallel, failures) : 0;
  }

  double bare = rows[0].seq, bare_par = rows[0].par;
  double bw = with_bwrap ? rows.back().seq : 0, bw_par = with_bwrap ? rows.back().par : 0;
  std::printf("jobs: %d, uid %u, 3 layers, /proc + /tmp, user+mount+pid+ipc+uts+net namespaces\n", n, geteuid());
  std::printf("%-36s %12s %10s %10s | %12s %10s %10s\n", "mode", "seq us/job", "x bare", "bwrap/x",
              ("par" + std::to_string(parallel) + " us/job").c_str(), "x bare", "bwrap/x");
  for (auto& r : rows)
    std::printf("%-36s %12.0f %10.2f %10.2f | %12.0f %10.2f %10.2f\n", r.name.c_str(), r.seq, r.seq / bare,
                bw ? bw / r.seq : 0.0, r.par, bare_par ? r.par / bare_par : 0.0, bw_par ? bw_par / r.par : 0.0);
  if (failures) std::printf("FAILED JOBS: %d\n", failures);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return failures ? 1 : 0;
}
