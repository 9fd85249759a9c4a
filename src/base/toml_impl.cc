// toml++'s implementation, compiled once for the project: everywhere else its headers only
// declare it (TOML_HEADER_ONLY=0, see CMakeLists.txt).
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
