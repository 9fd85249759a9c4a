#pragma once
// The common outer layer of every binary's main(): user errors become one
// "error: ..." line and exit code 1, never a stack trace or abort.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <functional>
#include <system_error>

#include "base/error.h"

namespace mael {

inline int run_tool(const char* program, CLI::App& app, const std::function<int()>& body) {
  try {
    return body();
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive here too, with exit code 0.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "error: %s (see %s --help)\n", e.what(), program);
    return 2;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "error: %s (see %s --help)\n", e.what(), program);
    return 2;
  } catch (const UserError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: internal error: %s\n", e.what());
    return 1;
  }
}

}  // namespace mael
