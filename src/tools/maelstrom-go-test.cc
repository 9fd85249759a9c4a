// maelstrom-go-test: runs a Go module's tests, each in its own container.
#include "gotest/go_test_main.h"

int main(int argc, char** argv) {
  return mael::go_test_main(argc, argv);
}
