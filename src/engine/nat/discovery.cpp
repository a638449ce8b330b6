#include "engine/nat/discovery.hpp"

#include <algorithm>

namespace ovl::nat {

using namespace std::chrono_literals;

const char* describe(Mapping m) {
  switch (m) {
    case Mapping::endpoint_independent: return "endpoint-independent";
    case Mapping::endpoint_dependent: return "endpoint-dependent";
    default: return "unknown";
  }
}

Discovery::Discovery(std::optional<net::Endpoint> server) : server_(std::move(server)) {}

void Discovery::on_timer(Time now, crypto::Rng& rng, std::vector<Send>& out) {
  if (!server_ || now < next_) return;
  // Forget requests that were never answered.
  for (auto it = pending_.begin(); it != pending_.end();)
    it = now - it->second.sent > kAnswerTimeout ? pending_.erase(it) : std::next(it);
  for (bool alt : {false, true}) {
    TxId id;
    rng.fill(id);
    net::Endpoint to = *server_;
    if (alt) to.port = static_cast<uint16_t>(to.port + 1);
    pending_[id] = {alt, now};
    out.push_back({to, binding_request(id)});
  }
  // Quick retries (1, 2, 4 s) until the first answer, then the slow re-check.
  Time retry = std::min<Time>(1s * (1 << std::min(failures_, 4)), kRecheck);
  next_ = now + (reflexive_ ? kRecheck : retry);
  ++failures_;
}

bool Discovery::on_response(const StunResponse& r, const net::Endpoint& from, Time now) {
  TxId id;
  std::copy_n(r.txid.begin(), id.size(), id.begin());
  auto it = pending_.find(id);
  if (r.classic || it == pending_.end()) return false;  // not ours (or a late duplicate)
  if (server_ && from.ip != server_->ip) return false;
  bool alt = it->second.alt;
  if (!alt) rtt_ = now - it->second.sent;
  pending_.erase(it);
  failures_ = 0;
  auto old_reflexive = reflexive_;
  auto old_mapping = mapping_;
  if (alt) alt_mapped_ = r.mapped;
  else reflexive_ = r.mapped;
  if (reflexive_ && alt_mapped_)
    mapping_ = *reflexive_ == *alt_mapped_ ? Mapping::endpoint_independent : Mapping::endpoint_dependent;
  if (reflexive_ && !old_reflexive) next_ = now + kRecheck;
  return reflexive_ != old_reflexive || mapping_ != old_mapping;
}

}  // namespace ovl::nat
