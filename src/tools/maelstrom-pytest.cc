// maelstrom-pytest: runs a Python project's pytest tests, each in its own container.
#include "pytest/pytest_main.h"

int main(int argc, char** argv) {
  return mael::pytest_main(argc, argv);
}
