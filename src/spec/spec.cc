#include "spec/spec.h"

namespace mael {

const char* device_name(Device d) {
  switch (d) {
    case Device::Full: return "full";
    case Device::Fuse: return "fuse";
    case Device::Null: return "null";
    case Device::Random: return "random";
    case Device::Shm: return "shm";
    case Device::Tty: return "tty";
    case Device::Urandom: return "urandom";
    case Device::Zero: return "zero";
  }
  return "?";
}

std::optional<Device> device_from_name(std::string_view s) {
  for (Device d : kAllDevices)
    if (s == device_name(d)) return d;
  return std::nullopt;
}

const char* network_name(Network n) {
  switch (n) {
    case Network::Disabled: return "disabled";
    case Network::Loopback: return "loopback";
    case Network::Local: return "local";
  }
  return "?";
}

}  // namespace mael
