// Runs `echo WORDS...` in a container holding only a static busybox, on this machine, and
// prints what it wrote; exits as the job did. Usage: run-echo CACHE_DIR [WORDS...]
#include <client/client.h>

#include <cstdio>
#include <future>
#include <iostream>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CACHE_DIR [WORDS...]\n", argv[0]);
    return 2;
  }
  try {
    mael::ClientOptions options;
    options.cache_root = argv[1];
    options.slots = 1;
    mael::Client client(options);

    mael::JobSpec spec;
    spec.container.layers = {mael::PathsLayer{{"/bin/busybox"}, {}},
                             mael::SymlinksLayer{{{"/bin/echo", "busybox"}}}};
    spec.program = "/bin/echo";
    spec.arguments.assign(argv + 2, argv + argc);

    std::promise<mael::JobOutcome> done;
    client.run_job(spec, nullptr, [&](mael::JobOutcome o) { done.set_value(std::move(o)); });
    mael::JobOutcome outcome = done.get_future().get();
    if (auto* e = std::get_if<mael::JobError>(&outcome.result)) {
      std::fprintf(stderr, "error: %s\n", e->message.c_str());
      return 1;
    }
    std::cout << outcome.effects.stdout_.first << std::flush;
    if (auto* x = std::get_if<mael::Exited>(&outcome.result)) return x->code;
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
