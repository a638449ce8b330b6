#include "engine/nat/candidates.hpp"

namespace ovl::nat {

std::optional<net::Endpoint> choose_endpoint(const std::vector<net::Endpoint>& peer, const std::vector<net::Endpoint>& self,
                                             const std::vector<net::Prefix>& local_subnets) {
  if (peer.empty()) return std::nullopt;
  if (!self.empty() && self.front().ip == peer.front().ip) {
    for (size_t i = 1; i < peer.size(); ++i)
      for (auto& s : local_subnets)
        if (s.contains(peer[i].ip)) return peer[i];
  }
  return peer.front();
}

}  // namespace ovl::nat
