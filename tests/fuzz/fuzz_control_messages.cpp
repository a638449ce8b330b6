// Fuzz target for control-plane messages (engine/control/messages.hpp), the
// JSON a node and its coordinator exchange, including subnet routes: no input
// crashes the decoder, a refusal says why, and what is accepted survives a
// round trip (encode, decode, encode gives the same text).
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/control/messages.hpp"
#include "invariant.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ovl::control;
  using ovl::fuzz::check;
  std::string_view s(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto m = decode(s, &why);
  if (!m) {
    check(!why.empty(), "a refused message says why");
    return 0;
  }
  if (auto* p = std::get_if<RoutesUpdate>(&*m)) check(p->advertise.size() <= 4096, "route list is bounded");
  std::string once = encode(*m);
  auto again = decode(once, &why);
  check(again.has_value(), "an encoded message decodes");
  check(encode(*again) == once, "encode/decode round trip is stable");
  return 0;
}
