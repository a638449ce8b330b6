// Fuzz target for invite token decoding: no input crashes the decoder, every
// error has a description, and an accepted token is canonical: encoding it
// again gives back the same text (so two texts never mean the same token).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>

#include "engine/control/token.hpp"
#include "invariant.hpp"

namespace {

using ovl::fuzz::check;

bool same(const ovl::control::Token& a, const ovl::control::Token& b) {
  return a.network_id == b.network_id && a.coordinator_key == b.coordinator_key && a.invite_id == b.invite_id &&
         a.secret == b.secret && a.endpoints == b.endpoints;
}

std::string_view trim(std::string_view s) {
  auto sp = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  while (!s.empty() && sp(s.front())) s.remove_prefix(1);
  while (!s.empty() && sp(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ovl::control;
  std::string_view s(reinterpret_cast<const char*>(data), size);
  auto r = decode_token(s);
  if (auto* e = std::get_if<TokenError>(&r)) {
    const char* d = describe(*e);
    check(d && std::strlen(d) > 10, "every error has a description");
    return 0;
  }
  const Token& t = std::get<Token>(r);
  check(!t.endpoints.empty() && t.endpoints.size() <= kMaxTokenEndpoints, "endpoint count in range");
  for (const auto& ep : t.endpoints) check(ep.port != 0, "endpoint has a port");
  std::string again = encode_token(t);
  check(again == trim(s), "an accepted token is canonical");
  auto r2 = decode_token(again);
  check(std::holds_alternative<Token>(r2) && same(std::get<Token>(r2), t), "re-encoded token decodes the same");
  return 0;
}
