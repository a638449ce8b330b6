// Fuzz target for IpAddr / Prefix / Endpoint text parsing, plus the prefix
// arithmetic (contains, masked) on raw bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "engine/net/ip.hpp"
#include "invariant.hpp"

namespace {

using ovl::fuzz::check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ovl::net;
  std::string_view s(reinterpret_cast<const char*>(data), size);

  if (auto a = IpAddr::parse(s)) {
    check(a->size() == 4 || a->size() == 16, "address size");
    auto again = IpAddr::parse(a->str());
    check(again && *again == *a, "address text round trip");
  }
  if (auto p = Prefix::parse(s)) {
    check(p->len <= (p->addr.v6 ? 128 : 32), "prefix length fits the family");
    auto again = Prefix::parse(p->str());
    check(again && *again == *p, "prefix text round trip");
    auto m = p->masked();
    check(m.masked() == m, "masked is idempotent");
    check(m.contains(p->addr) && p->contains(m.addr), "a prefix contains its own address and network");
  }
  if (auto e = Endpoint::parse(s)) {
    check(e->valid(), "parsed endpoint has a port");
    auto again = Endpoint::parse(e->str());
    check(again && *again == *e, "endpoint text round trip");
  }

  // Raw bytes: [flags][len][16 bytes prefix addr][16 bytes probe addr]
  if (size >= 34) {
    const bool v6 = data[0] & 1;
    const unsigned max = v6 ? 128 : 32;
    Prefix p{IpAddr::from_bytes({data + 2, v6 ? 16u : 4u}), static_cast<uint8_t>(data[1] % (max + 1))};
    IpAddr probe = IpAddr::from_bytes({data + 18, v6 ? 16u : 4u});
    Prefix q{probe, p.len};
    check(p.contains(probe) == (p.masked() == q.masked()), "contains agrees with masking");
    check(p.masked().contains(probe) == p.contains(probe), "masking keeps membership");
    IpAddr other_family = IpAddr::from_bytes({data + 18, v6 ? 4u : 16u});
    check(!p.contains(other_family), "families never contain each other");
    auto text = IpAddr::parse(probe.str());
    check(text && *text == probe, "any address formats and parses back");
  }
  return 0;
}
