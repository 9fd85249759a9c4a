#pragma once
// The one Unix socket connection maelstrom-client serves: a listener in the abstract namespace
// whose name the kernel picks (autobind), so nothing is left in the file system and two clients
// never collide.
#include <functional>
#include <string>

#include "base/unique_fd.h"

namespace mael::client_api {

struct AbstractListener {
  UniqueFd fd;
  std::string name;  // without the leading NUL; peers connect to unix-abstract:NAME
};

AbstractListener listen_abstract();

// Waits for the first connection; gives up (returning an invalid fd) once `keep_waiting`, asked
// every few tenths of a second, says no.
UniqueFd accept_one(const AbstractListener& listener, const std::function<bool()>& keep_waiting);

}  // namespace mael::client_api
