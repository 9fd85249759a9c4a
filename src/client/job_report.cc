#include "client/job_report.h"

#include <cstdio>

namespace mael {

static void print_stream(FILE* f, const JobOutput& out, const std::string& prefix, const char* name) {
  std::fwrite(out.first.data(), 1, out.first.size(), f);
  std::fflush(f);
  if (out.truncated) {
    // On its own line, also when it follows stderr's kept bytes cut mid-line.
    const char* sep = f == stderr && !out.first.empty() && out.first.back() != '\n' ? "\n" : "";
    std::fprintf(stderr, "%s%s%s truncated, %llu bytes lost\n", sep, prefix.c_str(), name,
                 static_cast<unsigned long long>(out.truncated));
  }
}

int print_job_outcome(const JobOutcome& o, const std::string& prefix, bool silent_exit) {
  if (!std::holds_alternative<JobError>(o.result)) {
    print_stream(stdout, o.effects.stdout_, prefix, "stdout");
    print_stream(stderr, o.effects.stderr_, prefix, "stderr");
  }
  if (auto* e = std::get_if<Exited>(&o.result)) {
    if (e->code != 0 && !silent_exit)
      std::fprintf(stderr, "%sexited with code %d\n", prefix.c_str(), e->code);
    return e->code;
  }
  if (auto* s = std::get_if<Signaled>(&o.result)) {
    if (!silent_exit) std::fprintf(stderr, "%skilled by signal %d\n", prefix.c_str(), s->signal);
    return 128 + s->signal;
  }
  if (std::holds_alternative<TimedOut>(o.result)) {
    std::fprintf(stderr, "%stimed out\n", prefix.c_str());
    return 1;
  }
  const auto& err = std::get<JobError>(o.result);
  std::fprintf(stderr, "%s%s error: %s\n", prefix.c_str(),
               err.kind == JobErrorKind::Execution ? "execution" : "system", err.message.c_str());
  return 1;
}

}  // namespace mael
