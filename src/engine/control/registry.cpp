#include "engine/control/registry.hpp"

namespace ovl::control {

const char* describe(EnrollError e) {
  switch (e) {
    // Unknown id and wrong secret share one message on purpose: telling them
    // apart would let a guesser learn which invite ids exist.
    case EnrollError::unknown_invite:
      return "the invite is not valid for this network (mistyped, or from another network)";
    case EnrollError::expired:
      return "the invite has expired; ask the network's admin for a new one";
    case EnrollError::revoked:
      return "the invite was revoked by the network's admin";
    case EnrollError::used_up:
      return "the invite has already been used as many times as it allows";
    case EnrollError::network_full:
      return "the network has no free address left for a new node";
    case EnrollError::name_taken:
      return "the requested node name is already taken; choose another one";
  }
  return "enrollment failed";
}

namespace {
bool is_label_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
constexpr size_t kMaxLabel = 63;
}  // namespace

bool valid_node_name(const std::string& s) {
  if (s.empty() || s.size() > kMaxLabel || s.front() == '-' || s.back() == '-') return false;
  for (char c : s)
    if (!is_label_char(c)) return false;
  return true;
}

std::string sanitize_node_name(const std::string& s) {
  std::string out;
  for (char c : s) {
    // A fully qualified host name contributes only its first label:
    // "laptop.example.com" is "laptop" (leading dots are skipped).
    if (c == '.') {
      if (out.empty()) continue;
      break;
    }
    if (c >= 'A' && c <= 'Z') out += static_cast<char>(c - 'A' + 'a');
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out += c;
    // Anything else (space, '_', '-', UTF-8 bytes) becomes one '-', never
    // leading and never doubled, so "My  Laptop_2" reads "my-laptop-2".
    else if (!out.empty() && out.back() != '-') out += '-';
  }
  if (out.size() > kMaxLabel) out.resize(kMaxLabel);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "node" : out;
}

}  // namespace ovl::control

namespace ovl::control {

bool valid_ula(const net::Prefix& p) { return p.addr.v6 && p.len == kUlaPrefixLen && p.addr.b[0] == 0xfd; }

net::Prefix random_ula(crypto::Rng& rng) {
  net::IpAddr a;
  a.v6 = true;
  a.b[0] = 0xfd;
  rng.fill({a.b.data() + 1, 5});  // the 40-bit Global ID; subnet and interface ids stay 0
  return net::Prefix{a, kUlaPrefixLen};
}

std::optional<net::IpAddr> node_ipv6(const net::Prefix& ula, const net::IpAddr& ip4) {
  if (!valid_ula(ula) || ip4.v6) return std::nullopt;
  net::IpAddr a = ula.masked().addr;  // subnet 0: bytes 6..7 are already zero
  for (int i = 0; i < 4; ++i) a.b[12 + i] = ip4.b[i];
  return a;
}

}  // namespace ovl::control
