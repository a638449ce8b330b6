// Fuzz target for the local API's request parser (engine/control/api_request):
// any line a client sends must never crash or throw; it is either one valid
// request or a short, printable error; a valid request's values are within
// their documented bounds and its canonical encoding reads back the same.
//
// Input: one request line. Seeds: every command the CLI sends, plus ill-typed
// and out-of-range fields (corpus/api_request).
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "engine/control/api_request.hpp"
#include "engine/control/registry.hpp"
#include "invariant.hpp"

using ovl::fuzz::check;
namespace control = ovl::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto r = control::parse_api_request(line);
  if (auto* err = std::get_if<std::string>(&r)) {
    check(!err->empty() && err->size() <= 120, "an error is short and not empty");
    for (unsigned char c : *err) check(c >= 0x20 && c <= 0x7e, "an error is plain printable text");
    return 0;
  }
  auto& req = std::get<control::ApiRequest>(r);
  if (auto* c = std::get_if<control::api::InviteCreate>(&req)) {
    check(c->uses == -1 || (c->uses >= 1 && c->uses <= control::kMaxInviteUses), "uses in range");
    check(c->expires_s >= 1 && c->expires_s <= control::kMaxInviteTtl, "expiry in range");
    check(c->groups.size() <= control::kMaxApiGroups, "bounded group count");
    check(c->name.empty() || control::valid_node_name(c->name), "invite name valid");
  }
  std::string once = control::encode_api_request(req);
  auto again = control::parse_api_request(once);
  check(std::holds_alternative<control::ApiRequest>(again), "the canonical encoding parses");
  auto& req2 = std::get<control::ApiRequest>(again);
  check(req2.index() == req.index(), "same command after a round trip");
  check(control::encode_api_request(req2) == once, "encode(parse(encode(r))) == encode(r)");
  return 0;
}
