// `ovl relay`: a process that runs only a relay (and STUN answers on its
// port) until SIGINT/SIGTERM. No asio in this header.
#pragma once
#include "engine/net/ip.hpp"
#include "engine/relay/credential.hpp"

namespace ovl::io {

struct RelayDaemonOptions {
  net::Endpoint listen;  // an unspecified IP listens on every address
  relay::RelaySecret secret{};
};

// Binds (throws std::system_error with a clear message if it cannot), then
// runs; returns an exit code.
int run_relay_daemon(const RelayDaemonOptions& opts);

}  // namespace ovl::io
