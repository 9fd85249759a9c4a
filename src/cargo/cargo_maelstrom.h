#pragma once
// cargo-maelstrom's main(): discovery through cargo, one container job per test through the
// shared run loop (runner/run_loop.h), Maelstrom's options and output.
namespace mael {

int cargo_maelstrom_main(int argc, char** argv);

}  // namespace mael
