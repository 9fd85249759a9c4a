// cargo-maelstrom: runs a Rust workspace's tests, each in its own container. Also runs as the
// cargo subcommand `cargo maelstrom`.
#include "cargo/cargo_maelstrom.h"

int main(int argc, char** argv) {
  return mael::cargo_maelstrom_main(argc, argv);
}
