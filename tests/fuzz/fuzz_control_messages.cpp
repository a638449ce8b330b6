// Fuzz target for the control-plane messages (engine/control/messages): any
// text given to decode() must never crash or throw; a refusal says why in a
// short message; an accepted message survives encode -> decode unchanged
// (its canonical encoding is a fixed point), so what a coordinator sends is
// exactly what a node reads.
//
// Input: the JSON text of one frame body. Seeds: one valid message of every
// type plus near misses (corpus/control_messages).
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/control/messages.hpp"
#include "invariant.hpp"

using ovl::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto m = ovl::control::decode(text, &why);
  if (!m) {
    check(!why.empty(), "a refusal says why");
    check(why.size() <= 120, "a refusal is short (it never quotes the input)");
    return 0;
  }
  std::string once = ovl::control::encode(*m);
  std::string why2;
  auto again = ovl::control::decode(once, &why2);
  check(again.has_value(), "an accepted message re-encodes to something decode accepts");
  check(again->index() == m->index(), "re-decoding keeps the message type");
  check(ovl::control::encode(*again) == once, "encode(decode(encode(m))) == encode(m)");
  return 0;
}
