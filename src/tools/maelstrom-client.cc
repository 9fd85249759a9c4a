// maelstrom-client: serves the client API (the ClientProcess gRPC service of proto/items.proto,
// docs/client-api.md) to the program that started it. It listens on an abstract Unix socket
// whose name it prints as one line on stdout, serves the first connection, and ends, stopping
// every job, when that connection closes, when Stop is called, on SIGINT/SIGTERM, or when the
// parent process dies.
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>

#include "base/config.h"
#include "base/log.h"
#include "base/tool_main.h"
#include "base/unique_fd.h"
#include "base/version.h"
#include "client/client_config.h"
#include "client_api/abstract_socket.h"
#include "client_api/service.h"
#include "cluster/tool_options.h"

namespace mael {
namespace {

constexpr const char* kProgram = "maelstrom-client";

// Why the process is ending, set once; the main loop wakes up on `fd`.
struct Ending {
  UniqueFd fd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  std::atomic<const char*> why = nullptr;
  void end(const char* reason) {
    const char* none = nullptr;
    why.compare_exchange_strong(none, reason);
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd.get(), &one, sizeof one);
  }
};

int main_impl(int argc, char** argv) {
  CLI::App app{
      "Serve Maelstrom's client API to the program that started this process, over an abstract Unix "
      "socket whose name is printed on stdout.",
      kProgram};
  return run_tool(kProgram, app, [&] {
    app.set_version_flag("-V,--version", version_line(kProgram));
    ConfigLoader loader(program_config_info(kProgram), app);
    // The values Start's request does not give (broker credentials, job limits, registries).
    add_client_config(loader, "client");
    app.parse(argc, argv);
    Config config = loader.load(environment_map());
    if (loader.print_config_requested()) {
      std::fputs(config.to_toml().c_str(), stdout);
      return 0;
    }
    init_logging(config.log_level());
    ::signal(SIGPIPE, SIG_IGN);
    static Ending ending;          // static: the signal thread may outlive this function
    cluster::StopSignals signals;  // before any thread starts
    signals.on_signal([](int) { ending.end("signal"); });
    const pid_t parent = ::getppid();
    auto parent_alive = [parent] { return ::getppid() == parent; };
    ClientOptions defaults = client_options_from(config);

    client_api::AbstractListener listener = client_api::listen_abstract();
    std::printf("%s\n", listener.name.c_str());
    std::fflush(stdout);
    UniqueFd conn = client_api::accept_one(listener, [&] { return parent_alive() && !ending.why; });
    if (!conn.valid()) return 0;  // the parent went away (or we were told to stop) first
    listener.fd.reset();

    client_api::ClientProcessService service(defaults, [] { ending.end("Stop"); });
    grpc::ServerBuilder builder;
    builder.RegisterService(&service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    // gRPC owns the connection; a second descriptor of the same socket tells us when the peer hangs up.
    UniqueFd watch(check_sys(::fcntl(conn.get(), F_DUPFD_CLOEXEC, 0), "dup"));
    grpc::AddInsecureChannelFromFd(server.get(), conn.release());
    while (!ending.why) {
      pollfd fds[2] = {{watch.get(), POLLRDHUP, 0}, {ending.fd.get(), POLLIN, 0}};
      if (::poll(fds, 2, 200) < 0 && errno != EINTR) throw_errno("poll");
      if (fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) ending.end("connection closed");
      if (!parent_alive()) ending.end("parent process ended");
    }
    log::debug("maelstrom-client stopping: {}", std::string(ending.why.load()));
    service.shut_down();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return 0;
  });
}

}  // namespace
}  // namespace mael

int main(int argc, char** argv) {
  return mael::main_impl(argc, argv);
}
