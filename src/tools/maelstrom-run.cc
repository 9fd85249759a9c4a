// maelstrom-run: runs jobs described as a stream of JSON job specs.
#include <signal.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <thread>

#include "base/config.h"
#include "base/input_file.h"
#include "base/interrupt.h"
#include "base/log.h"
#include "base/tool_main.h"
#include "base/unique_fd.h"
#include "base/version.h"
#include "client/client.h"
#include "client/client_config.h"
#include "client/job_report.h"
#include "container/pty.h"
#include "container/runtime.h"
#include "executor/executor.h"
#include "spec/json_spec.h"

namespace mael {
namespace {

constexpr const char* kProgram = "maelstrom-run";

// Whether the job ended because the broker stopped or went away: the client
// has logged that once, naming the broker, so the job needs no line of its own.
bool lost_with_broker(const Client& client, const JobOutcome& o) {
  auto* e = std::get_if<JobError>(&o.result);
  return e && e->kind == JobErrorKind::System && client.broker_error() == e->message;
}

// Where a job was read, for errors found only when it is sent (a layer path that does not
// exist): "FILE: line L: what".
struct JobPlace {
  std::string source;
  int line = 0;
  template <typename F>
  void naming_it(F&& f) const {
    try {
      f();
    } catch (const UserError& e) {
      throw UserError(prefix() + e.what());
    }
  }
  std::string prefix() const { return source + ": line " + std::to_string(line) + ": "; }
};

// An outcome's line starts with the job's place when the job could not run (an error found
// while preparing it, such as a layer that cannot be extracted).
std::string outcome_prefix(const JobOutcome& o, const JobPlace& place) {
  return std::holds_alternative<JobError>(o.result) ? place.prefix() : "";
}

// Runs every job of the stream as soon as it is read; returns the first non-zero
// exit code. Stops reading once the broker is gone.
int run_stream(Client& client, JobSpecStreamReader& reader) {
  std::mutex out_mu;
  std::atomic<int> first_failure = 0;
  std::atomic<bool> any_failure = false;
  uint64_t submitted = 0;
  uint64_t reported = 0;  // under out_mu
  std::atomic<bool> abandoned = false;
  // A bad spec further on ends the run with its error: stop the jobs already
  // submitted, unreported, before the state their callbacks use goes away.
  struct StopOnError {
    Client& client;
    std::atomic<bool>& abandoned;
    ~StopOnError() {
      if (std::uncaught_exceptions() == 0) return;
      abandoned = true;
      client.cancel_all();
      client.wait_idle();
    }
  } stop_on_error{client, abandoned};
  // The main thread may sit in a read of stdin when the broker goes away: this
  // watcher ends the process then, once the jobs already sent have ended (the
  // client has logged the one line that names the broker).
  struct BrokerWatch {
    std::atomic<bool> stop = false;
    std::thread thread;
    ~BrokerWatch() {
      stop = true;
      thread.join();
    }
  } watch;
  watch.thread = std::thread([&client, &stop = watch.stop] {
    while (!stop) {
      if (client.broker_error()) {
        client.wait_idle();
        std::fflush(stdout);
        std::fflush(stderr);
        _exit(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  uint64_t next = 0;  // jobs are numbered from 0 in messages, as Maelstrom's
  try {
    while (!client.broker_error() && !g_interrupted) {
      auto item = reader.next();
      if (!item) break;
      if (auto* containers = std::get_if<std::map<std::string, ContainerSpec>>(&item->item)) {
        for (auto& [name, c] : *containers) client.add_container(name, c);
        continue;
      }
      uint64_t n = next++;
      JobPlace place{reader.source_name(), item->line};
      place.naming_it([&] {
        client.run_job(std::get<JobSpec>(item->item), nullptr, [&, n, place](JobOutcome o) {
          std::lock_guard lk(out_mu);
          if (abandoned || g_interrupted) return;  // cancelled by us: nothing to say about it
          ++reported;
          int code = 1;
          if (!lost_with_broker(client, o)) {
            code = print_job_outcome(o, outcome_prefix(o, place) + "job " + std::to_string(n) + ": ");
            // Of many jobs, one killed by a signal fails the run with 1 (as Maelstrom's does); only
            // --one ends the way its job did.
            if (std::holds_alternative<Signaled>(o.result)) code = 1;
          }
          if (code != 0) {
            int zero = 0;
            first_failure.compare_exchange_strong(zero, code);
            any_failure = true;
          }
        });
      });
      ++submitted;
    }
  } catch (const UserError& e) {
    // The jobs not reported yet are stopped with the run (StopOnError): say so in the same line.
    uint64_t stopped;
    {
      std::lock_guard lk(out_mu);
      abandoned = true;
      stopped = submitted - reported;
    }
    if (stopped == 0) throw;
    throw UserError(std::string(e.what()) + " (" + std::to_string(stopped) + " job" +
                    (stopped == 1 ? "" : "s") + " already started " + (stopped == 1 ? "was" : "were") +
                    " stopped)");
  }
  client.wait_idle();
  park_if_interrupted();  // the signal thread ends the process: no exit code of ours
  if (client.broker_error()) return 1;
  return any_failure ? (first_failure ? first_failure.load() : 1) : 0;
}

// The first job of the stream (named containers before it are registered),
// with the command line's program and arguments if given; *place: where it is.
JobSpec first_job(Client& client, JobSpecStreamReader& reader, const std::vector<std::string>& command,
                  JobPlace* place) {
  std::optional<JobSpec> spec;
  while (auto item = reader.next()) {
    if (auto* containers = std::get_if<std::map<std::string, ContainerSpec>>(&item->item)) {
      for (auto& [name, c] : *containers) client.add_container(name, c);
      continue;
    }
    spec = std::get<JobSpec>(std::move(item->item));
    *place = JobPlace{reader.source_name(), item->line};
    break;
  }
  if (!spec) throw UserError("no job specification provided: give one on stdin or with --file");
  if (!command.empty()) {
    spec->program = command[0];
    spec->arguments.assign(command.begin() + 1, command.end());
  }
  return std::move(*spec);
}

// Ends this process the way the job ended when a signal killed it.
void mirror_signal(const JobOutcome& o) {
  if (auto* s = std::get_if<Signaled>(&o.result)) {
    std::fflush(stdout);
    ::signal(s->signal, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, s->signal);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    ::raise(s->signal);
  }
}

// Runs the first job of the stream and ends the way it ended.
int run_one(Client& client, JobSpecStreamReader& reader, const std::vector<std::string>& command) {
  JobPlace place;
  JobSpec spec = first_job(client, reader, command, &place);
  std::promise<JobOutcome> done;
  place.naming_it(
      [&] { client.run_job(spec, nullptr, [&](JobOutcome o) { done.set_value(std::move(o)); }); });
  JobOutcome o = done.get_future().get();
  park_if_interrupted();
  if (lost_with_broker(client, o)) return 1;
  int code = print_job_outcome(o, outcome_prefix(o, place), true);
  mirror_signal(o);
  return code;
}

// A listening Unix socket in the abstract namespace, named by the kernel (autobind: six bytes,
// the first 0), for a tty job to connect to; its address in *address.
UniqueFd listen_for_tty(std::string* address) {
  UniqueFd l(check_sys(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  check_sys(::bind(l.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(sa_family_t)), "binding the tty socket");
  socklen_t len = sizeof addr;
  check_sys(::getsockname(l.get(), reinterpret_cast<sockaddr*>(&addr), &len), "getsockname");
  *address = std::string(addr.sun_path, len - offsetof(sockaddr_un, sun_path));
  check_sys(::listen(l.get(), 1), "listening on the tty socket");
  return l;
}

// --tty: runs the first job through the client, as Maelstrom does, with a pseudo-terminal that
// stands in for ours: the runtime connects the job's terminal to a socket of ours (so the job
// runs on this machine), our terminal goes raw, what we type goes to the job, what it writes
// comes back, window size changes follow. `signals` (blocked in every thread, SIGWINCH among
// them): the others end it early, the job killed and our terminal restored.
int run_tty(Client& client, JobSpecStreamReader& reader, const std::vector<std::string>& command, char escape,
            const sigset_t& signals) {
  JobPlace place;
  JobSpec spec = first_job(client, reader, command, &place);
  std::string address;
  UniqueFd listener = listen_for_tty(&address);
  std::optional<WindowSize> size = window_size(STDIN_FILENO);
  spec.allocate_tty = JobTty{address, size ? size->rows : uint16_t{24}, size ? size->columns : uint16_t{80}};
  UniqueFd done_fd(check_sys(::eventfd(0, EFD_CLOEXEC), "eventfd"));
  UniqueFd signals_fd(check_sys(::signalfd(-1, &signals, SFD_CLOEXEC), "signalfd"));
  const int done = done_fd.get(), signal_fd = signals_fd.get();
  std::promise<JobOutcome> result;
  place.naming_it([&] {
    client.run_job(spec, nullptr, [&](JobOutcome o) {
      result.set_value(std::move(o));
      uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(done, &one, sizeof one);
    });
  });
  // The job's side connects once its container is being made; a job that fails before that
  // (a missing layer, say) ends without connecting.
  UniqueFd conn;
  RelayEnd end{RelayEnd::JobDone, 0};
  for (;;) {
    pollfd fds[3] = {{listener.get(), POLLIN, 0}, {done, POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      throw_errno("poll");
    }
    if (fds[0].revents) {
      conn = UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (conn.valid()) break;
    }
    if (fds[1].revents) break;
    if (fds[2].revents) {
      signalfd_siginfo si{};
      if (::read(signal_fd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGWINCH) {
        end = {RelayEnd::Signal, static_cast<int>(si.ssi_signo)};
        break;
      }
    }
  }
  if (conn.valid()) {
    RawTerminal raw(STDIN_FILENO);
    end = relay_terminal(STDIN_FILENO, STDOUT_FILENO, conn.get(), done, signal_fd, escape, raw, true);
  }  // our terminal is restored here, before anything else is printed
  if (end.kind != RelayEnd::JobDone) {
    client.cancel_all();
    client.wait_idle();
    std::fprintf(stderr, "interrupted: the job was stopped\n");
    return 128 + end.signal;
  }
  JobOutcome o = result.get_future().get();
  // Its output went to the terminal; a plain exit code needs no words.
  int code =
      std::holds_alternative<Exited>(o.result) ? std::get<Exited>(o.result).code : print_job_outcome(o, "");
  mirror_signal(o);
  return code;
}

// Ctrl-C / SIGTERM: kill every running job (their namespaces die with them) and exit.
// Started before the client exists (it may wait for the cache directory): then there is nothing
// to stop.
void start_signal_thread(std::atomic<Client*>& client, const sigset_t& set) {
  std::thread([&client, set] {
    int sig = 0;
    sigwait(&set, &sig);
    // Before every job is cancelled: their outcomes are not reported (this thread says once
    // that every job was stopped, then ends the process).
    g_interrupted = true;
    if (Client* c = client.load()) {
      c->cancel_all();
      c->wait_idle();
    }
    std::fprintf(stderr, "interrupted: every job was stopped\n");
    std::fflush(stdout);
    _exit(128 + sig);
  }).detach();
}

int main_impl(int argc, char** argv) {
  CLI::App app{"Run jobs, each in its own container, described as a stream of JSON job specs.", kProgram};
  return run_tool(kProgram, app, [&] {
    app.set_version_flag("-V,--version", version_line(kProgram));
    ConfigLoader loader(program_config_info(kProgram), app);
    add_client_config(loader, "run");
    std::string file;
    bool one = false, tty = false;
    std::vector<std::string> command;
    app.add_option("-f,--file", file, "read job specs from FILE instead of standard input")
        ->type_name("FILE");
    auto* one_flag = app.add_flag("-1,--one", one, "run only the first job and exit the way it exited");
    app.add_flag(
           "-t,--tty", tty,
           "like --one, with the job attached to this terminal through a pseudo-terminal (runs locally)")
        ->excludes(one_flag);
    loader.add({.name = "escape-char",
                .type = ConfigType::String,
                .help = "with --tty, the key that starts an escape: then ^C kills maelstrom-run, ^Z suspends "
                        "it, the key again sends it to the job",
                .default_value = "^]",
                .value_name = "CHAR",
                .check = [](std::string_view v) -> std::optional<std::string> {
                  if (escape_char_from(v)) return std::nullopt;
                  return kBadEscapeChar;
                }});
    // Everything from the first positional argument on is the job's command line,
    // options included (`--one sh -c 'exit 3'`).
    app.prefix_command();
    app.footer(
        "With --one or --tty, any arguments after the options replace the job's program and "
        "arguments.\n\n" +
        app.get_footer());
    app.parse(argc, argv);
    command = app.remaining();
    // The first argument that is not an option of ours starts the command line: `--` may
    // mark it; otherwise something that looks like an option is a mistyped one.
    if (!command.empty() && command[0] == "--") {
      command.erase(command.begin());
    } else if (!command.empty() && command[0].size() > 1 && command[0][0] == '-') {
      throw UsageError("unknown option " + command[0] +
                       " (a program whose name starts with '-' goes after --)");
    }
    Config config = loader.load(environment_map());
    if (loader.print_config_requested()) {
      std::fputs(config.to_toml().c_str(), stdout);
      return 0;
    }
    if (!command.empty() && !one && !tty)
      throw UserError("a program on the command line needs --one or --tty");
    init_logging(config.log_level());
    char escape = 0;
    if (tty) {
      if (!::isatty(STDIN_FILENO))
        throw UserError(
            "--tty needs a terminal on standard input; run it from an interactive terminal or use --one");
      escape = parse_escape_char(config.get_string("escape-char"), "escape-char");
    }

    std::ifstream fin;
    std::string source = "stdin";
    if (!file.empty()) {
      fin = open_input_file(file, "job file", "give a file of JSON job specs");
      source = file;
    }
    std::istream& in = file.empty() ? std::cin : fin;

    // Block the signals before threads start, so only the signal thread takes them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (tty) sigaddset(&set, SIGWINCH);  // the relay reads it from a signalfd
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    ClientOptions options = client_options_from(config);
    options.project_dir = std::filesystem::current_path();
    options.image_progress = isatty(STDERR_FILENO);
    static std::atomic<Client*> current = nullptr;
    if (!tty) start_signal_thread(current, set);
    Client client(options);
    current = &client;
    struct Forget {
      ~Forget() { current = nullptr; }
    } forget;
    JobSpecStreamReader reader(in, source);
    if (tty) {
      int code = run_tty(client, reader, command, escape, set);
      std::fflush(stdout);
      return code;
    }
    int code = one ? run_one(client, reader, command) : run_stream(client, reader);
    std::fflush(stdout);
    return code;
  });
}

}  // namespace
}  // namespace mael

int main(int argc, char** argv) {
  return mael::main_impl(argc, argv);
}
