// maelstrom-run: runs jobs described as a stream of JSON job specs.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>
#include <iostream>
#include <mutex>

#include "base/config.h"
#include "base/log.h"
#include "base/tool_main.h"
#include "client/client.h"
#include "client/client_config.h"
#include "client/job_report.h"
#include "spec/json_spec.h"

namespace mael {
namespace {

constexpr const char* kProgram = "maelstrom-run";

// Runs every job of the stream as soon as it is read; returns the first non-zero exit code.
int run_stream(Client& client, JobSpecStreamReader& reader) {
  std::mutex out_mu;
  std::atomic<int> first_failure = 0;
  std::atomic<bool> any_failure = false;
  uint64_t next = 1;
  while (auto item = reader.next()) {
    if (auto* containers = std::get_if<std::map<std::string, ContainerSpec>>(&item->item)) {
      for (auto& [name, c] : *containers) client.add_container(name, c);
      continue;
    }
    uint64_t n = next++;
    client.run_job(std::get<JobSpec>(item->item), nullptr, [&, n](JobOutcome o) {
      int code;
      {
        std::lock_guard lk(out_mu);
        code = print_job_outcome(o, "job " + std::to_string(n) + ": ");
      }
      if (code != 0) {
        int zero = 0;
        first_failure.compare_exchange_strong(zero, code);
        any_failure = true;
      }
    });
  }
  client.wait_idle();
  return any_failure ? (first_failure ? first_failure.load() : 1) : 0;
}

// Runs the first job of the stream and ends the way it ended.
int run_one(Client& client, JobSpecStreamReader& reader, const std::vector<std::string>& command) {
  std::optional<JobSpec> spec;
  while (auto item = reader.next()) {
    if (auto* containers = std::get_if<std::map<std::string, ContainerSpec>>(&item->item)) {
      for (auto& [name, c] : *containers) client.add_container(name, c);
      continue;
    }
    spec = std::get<JobSpec>(std::move(item->item));
    break;
  }
  if (!spec) throw UserError("no job specification provided: give one on stdin or with --file");
  if (!command.empty()) {
    spec->program = command[0];
    spec->arguments.assign(command.begin() + 1, command.end());
  }
  std::promise<JobOutcome> done;
  client.run_job(*spec, nullptr, [&](JobOutcome o) { done.set_value(std::move(o)); });
  JobOutcome o = done.get_future().get();
  int code = print_job_outcome(o, "");
  if (auto* s = std::get_if<Signaled>(&o.result)) {
    std::fflush(stdout);
    ::signal(s->signal, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, s->signal);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    ::raise(s->signal);
  }
  return code;
}

// Ctrl-C / SIGTERM: kill every running job (their namespaces die with them) and exit.
void start_signal_thread(Client& client, const sigset_t& set) {
  std::thread([&client, set] {
    int sig = 0;
    sigwait(&set, &sig);
    client.cancel_all();
    client.wait_idle();
    std::fprintf(stderr, "interrupted: every job was stopped\n");
    std::fflush(stdout);
    _exit(128 + sig);
  }).detach();
}

int main_impl(int argc, char** argv) {
  CLI::App app{"Run jobs, each in its own container, described as a stream of JSON job specs.", kProgram};
  return run_tool(kProgram, app, [&] {
    app.set_version_flag("--version", "maelstrom-run 0.1.0");
    ConfigLoader loader(program_config_info(kProgram), app);
    add_client_config(loader, "run");
    std::string file;
    bool one = false;
    std::vector<std::string> command;
    app.add_option("-f,--file", file, "read job specs from FILE instead of standard input");
    app.add_flag("-1,--one", one, "run only the first job and exit the way it exited");
    // Everything from the first positional argument on is the job's command line,
    // options included (`--one sh -c 'exit 3'`).
    app.prefix_command();
    app.footer("With --one, any arguments after the options replace the job's program and arguments.");
    app.parse(argc, argv);
    command = app.remaining();
    Config config = loader.load(environment_map());
    if (loader.print_config_requested()) {
      std::fputs(config.to_toml().c_str(), stdout);
      return 0;
    }
    if (!command.empty() && !one) throw UserError("a program on the command line needs --one");
    init_logging(config.log_level());

    std::ifstream fin;
    std::string source = "stdin";
    if (!file.empty()) {
      fin.open(file);
      if (!fin) throw UserError("cannot open job file " + file + ": " + std::strerror(errno));
      source = file;
    }
    std::istream& in = file.empty() ? std::cin : fin;

    // Block the signals before threads start, so only the signal thread takes them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    ClientOptions options = client_options_from(config);
    options.project_dir = std::filesystem::current_path();
    options.image_progress = isatty(STDERR_FILENO);
    Client client(options);
    start_signal_thread(client, set);
    JobSpecStreamReader reader(in, source);
    int code = one ? run_one(client, reader, command) : run_stream(client, reader);
    std::fflush(stdout);
    return code;
  });
}

}  // namespace
}  // namespace mael

int main(int argc, char** argv) { return mael::main_impl(argc, argv); }
