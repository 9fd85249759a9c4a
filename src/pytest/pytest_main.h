#pragma once

namespace mael {

// maelstrom-pytest's whole command line; returns the exit code.
int pytest_main(int argc, char** argv);

}  // namespace mael
