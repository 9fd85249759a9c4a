#pragma once
// maelstrom-go-test's main(): a Go module's tests, one container job per top-level test, through
// the shared test-runner driver (runner/driver.h).
namespace mael {

int go_test_main(int argc, char** argv);

}  // namespace mael
