// Control message codec: the call-me-maybe round trip and what it refuses.
#include <doctest/doctest.h>

#include "engine/control/messages.hpp"

using namespace ovl;
using namespace ovl::control;

TEST_CASE("messages: call_me_maybe round trip; bad mapping, too many endpoints, bad key refused") {
  CallMeMaybe c;
  c.peer.fill(7);
  c.endpoints = {*net::Endpoint::parse("203.0.113.10:51820"), *net::Endpoint::parse("[fd00::2]:51820")};
  c.mapping = "endpoint-dependent";
  c.udp = false;
  c.spray = true;
  auto m = decode(encode(c));
  REQUIRE(m);
  REQUIRE(std::holds_alternative<CallMeMaybe>(*m));
  CHECK(std::get<CallMeMaybe>(*m) == c);

  std::string why;
  CHECK(!decode(R"({"type":"call_me_maybe","peer":"AAAA","endpoints":[],"mapping":"unknown","udp":true,"spray":false})", &why));
  CHECK(why.find("key") != std::string::npos);
  std::string key = crypto::to_base64(c.peer);
  CHECK(!decode(R"({"type":"call_me_maybe","peer":")" + key +
                    R"(","endpoints":[],"mapping":"full-cone","udp":true,"spray":false})",
                &why));
  CHECK(why == "unknown mapping");
  std::string eps = "[";
  for (int i = 0; i < 33; ++i) eps += std::string(i ? "," : "") + "\"10.0.0.1:" + std::to_string(i + 1) + "\"";
  eps += "]";
  CHECK(!decode(R"({"type":"call_me_maybe","peer":")" + key + R"(","endpoints":)" + eps +
                    R"(,"mapping":"unknown","udp":true,"spray":false})",
                &why));
  CHECK(why == "too many endpoints");
  CHECK(!decode(R"({"type":"call_me_maybe","peer":")" + key + R"(","endpoints":[],"mapping":"unknown","udp":1,"spray":false})"));
}
