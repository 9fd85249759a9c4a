// Per-job overhead of the container runtime against bare process spawning and
// bubblewrap: N runs of a static busybox `true` each, sequential and with
// parallel runners, all in one process run so the machine state is shared.
//
//   container_overhead [-n JOBS] [-p PARALLEL] [-r ROUNDS] [--only SUBSTRING] [--no-bwrap] [--no-seq]
//
// Every round measures every mode once (sequential, then parallel), so the
// modes see the same machine load; the table shows per-mode medians over the
// rounds, and the ratios are medians of the per-round ratios.
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdint>
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

// Busy CPU time of the whole machine so far (all CPUs, every process), in microseconds.
double machine_busy_us() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
  f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return double(user + nice + system + irq + softirq + steal) * 1e6 / double(sysconf(_SC_CLK_TCK));
}

// Microseconds per job with `parallel` runners sharing n jobs.
double measure(const Job& job, int n, int parallel, int& failures) {
  std::atomic<int> next{0}, failed{0};
  double busy_before = machine_busy_us();
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < parallel; ++t)
    threads.emplace_back([&] {
      while (next.fetch_add(1) < n)
        if (!job()) ++failed;
    });
  for (auto& t : threads) t.join();
  failures += failed.load();
  if (getenv("MAEL_BENCH_CPU"))
    std::fprintf(stderr, "p%d: machine CPU %.0f us/job\n", parallel, (machine_busy_us() - busy_before) / n);
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

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 1000, parallel = 2, rounds = 3;
  std::string only;
  bool with_bwrap = access("/usr/bin/bwrap", X_OK) == 0;
  bool with_seq = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-n" && i + 1 < argc) n = std::atoi(argv[++i]);
    else if (a == "-p" && i + 1 < argc) parallel = std::atoi(argv[++i]);
    else if (a == "-r" && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--no-bwrap") with_bwrap = false;
    else if (a == "--no-seq") with_seq = false;  // only the parallel runs (for profiling them)
    else {
      std::fprintf(stderr, "usage: %s [-n JOBS] [-p PARALLEL] [-r ROUNDS] [--only SUBSTRING] [--no-bwrap] [--no-seq]\n", argv[0]);
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
  // The same work as the runtime rows: user, mount, pid, ipc, uts, net (and
  // cgroup) namespaces, the tree read-only at /, a new /proc and a /tmp.
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

  auto runtime_job = [&](mael::Runtime& rt, mael::Network net, bool limits = true) {
    return [&rt, &config, net, limits] {
      mael::ContainerConfig c = config;
      c.network = net;
      if (!limits) c.limits = mael::ContainerLimits{0, 0, 0};
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
  // As before network namespaces were reused: each job creates its own.
  mael::Runtime fresh_netns(dir / "scratch-fresh-netns", mael::RuntimeOptions{2, false});
  // What the per-job limits cost: none set, and no memory cgroups.
  mael::RuntimeOptions unlimited_options{2};
  unlimited_options.memory_cgroups = false;
  mael::Runtime unlimited(dir / "scratch-unlimited", unlimited_options);

  struct Row {
    std::string name;
    Job job;
    std::vector<double> seq, par, seq_x, par_x, seq_bw, par_bw;
  };
  std::vector<Row> rows = {
      {"fork+execve (bare)", [&] { return fork_exec(true_path.c_str(), true_argv); }},
      {"posix_spawn (bare)", [&] { return spawn(true_path.c_str(), true_argv); }},
      {"runtime, prepared namespaces", runtime_job(prepared, mael::Network::Disabled)},
      {"runtime, prepared, no limits", runtime_job(unlimited, mael::Network::Disabled, false)},
      {"runtime, on demand", runtime_job(on_demand, mael::Network::Disabled)},
      {"runtime, on demand, network=local", runtime_job(on_demand, mael::Network::Local)},
      {"runtime, prepared, fresh netns per job", runtime_job(fresh_netns, mael::Network::Disabled)},
  };
  if (with_bwrap)
    rows.push_back({"bwrap --unshare-all", [&] { return spawn("/usr/bin/bwrap", bwrap_argv.data()); }});
  // The baselines always run (the ratios need them); --only filters the rest.
  const size_t bare = 0;
  const size_t bw = with_bwrap ? rows.size() - 1 : SIZE_MAX;
  auto selected = [&](size_t i) {
    return i == bare || i == bw || only.empty() || rows[i].name.find(only) != std::string::npos;
  };

  std::string load_before = loadavg();
  int failures = 0;
  for (size_t i = 0; i < rows.size(); ++i)
    if (selected(i)) measure(rows[i].job, std::min(n / 10 + 1, 50), 1, failures);  // warm up (and fill pools)
  for (int round = 0; round < rounds; ++round) {
    std::vector<double> seq(rows.size()), par(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!selected(i)) continue;
      seq[i] = with_seq ? measure(rows[i].job, n, 1, failures) : 0;
      par[i] = parallel > 1 ? measure(rows[i].job, n, parallel, failures) : 0;
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!selected(i)) continue;
      Row& r = rows[i];
      r.seq.push_back(seq[i]);
      r.par.push_back(par[i]);
      r.seq_x.push_back(seq[bare] ? seq[i] / seq[bare] : 0);
      r.par_x.push_back(par[bare] ? par[i] / par[bare] : 0);
      r.seq_bw.push_back(bw != SIZE_MAX && seq[i] ? seq[bw] / seq[i] : 0);
      r.par_bw.push_back(bw != SIZE_MAX && par[i] ? par[bw] / par[i] : 0);
    }
  }

  std::printf("jobs: %d x %d rounds (medians), uid %u, 3 layers, /proc + /tmp, "
              "user+mount+pid+ipc+uts+net namespaces; load before: %s, after: %s\n",
              n, rounds, geteuid(), load_before.c_str(), loadavg().c_str());
  std::printf("%-36s %12s %10s %10s | %12s %10s %10s\n", "mode", "seq us/job", "x bare", "bwrap/x",
              ("par" + std::to_string(parallel) + " us/job").c_str(), "x bare", "bwrap/x");
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!selected(i)) continue;
    Row& r = rows[i];
    std::printf("%-36s %12.0f %10.2f %10.2f | %12.0f %10.2f %10.2f\n", r.name.c_str(), median(r.seq),
                median(r.seq_x), median(r.seq_bw), median(r.par), median(r.par_x), median(r.par_bw));
  }
  if (failures) std::printf("FAILED JOBS: %d\n", failures);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return failures ? 1 : 0;
}
