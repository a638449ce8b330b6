// Control messages (engine/control/messages) and the local API's requests
// (engine/control/api_request): round trips, refusals that name the field,
// and the regressions their fuzz targets found.
#include <doctest/doctest.h>

#include <string>
#include <variant>

#include "engine/control/api_request.hpp"
#include "engine/control/messages.hpp"

using namespace ovl;
using namespace ovl::control;

namespace {

PeerInfo sample_peer() {
  PeerInfo p;
  p.id = 7;
  p.name = "laptop";
  p.ip = *net::IpAddr::parse("100.83.0.2");
  p.public_key.fill(0x11);
  p.endpoints = {*net::Endpoint::parse("203.0.113.10:51820"), *net::Endpoint::parse("[2001:db8::1]:443")};
  p.groups = {"servers"};
  p.online = true;
  return p;
}

std::string refusal(std::string_view text) {
  std::string why;
  CHECK_FALSE(decode(text, &why).has_value());
  return why;
}

}  // namespace

TEST_CASE("messages: every type survives encode -> decode") {
  Hello h;
  h.name = "a";
  h.hostname = "host";
  h.listen_port = 51820;
  h.endpoints = {*net::Endpoint::parse("192.168.1.2:51820")};
  h.reflexive = net::Endpoint::parse("203.0.113.10:40000");
  h.invite_id = "0123456789abcdef";
  h.invite_secret = "c2VjcmV0";
  Welcome w;
  w.self = sample_peer();
  w.network = {"n1", "home", "home.ovl", *net::Prefix::parse("100.83.0.0/16")};
  w.relays.push_back({*net::Endpoint::parse("203.0.113.1:51822"), 1700000000, {}});
  Delta d{9, {sample_peer()}, {sample_peer().public_key}};
  for (const Message& m : std::vector<Message>{h, EndpointsUpdate{h.endpoints, std::nullopt}, Ping{}, Pong{}, w,
                                               FullMap{3, {sample_peer()}}, d, ErrorMsg{"used_up", "gone"}}) {
    auto text = encode(m);
    auto back = decode(text);
    REQUIRE(back.has_value());
    CHECK(back->index() == m.index());
    CHECK(encode(*back) == text);
  }
  auto back = std::get<FullMap>(*decode(encode(FullMap{3, {sample_peer()}})));
  CHECK(back.peers.at(0) == sample_peer());
}

TEST_CASE("messages: refusals name the field and never quote the input") {
  CHECK(refusal("nope") == "not a JSON object");
  CHECK(refusal(R"({"type":"nosuch"})") == "unknown message type");
  CHECK(refusal(R"({"type":"hello","name":"a","listen_port":65536,"endpoints":[]})").find("listen_port") !=
        std::string::npos);
  CHECK(refusal(R"({"type":"map","version":1.5,"peers":[]})").find("integer") != std::string::npos);
  CHECK(refusal(R"({"type":"delta","version":1,"upsert":[],"remove":["c2VjcmV0"]})").find("c2VjcmV0") ==
        std::string::npos);
}

TEST_CASE("messages: an integer above INT64_MAX is out of range (regression: hi + 1 overflowed)") {
  // Found while writing fuzz_control_messages (UBSan flags it): the range check computed
  // INT64_MAX + 1 for a u64 value; now it is refused without arithmetic.
  auto why = refusal(R"({"type":"map","version":18446744073709551615,"peers":[]})");
  CHECK(why == "field \"version\" is out of range");
  why = refusal(R"({"type":"map","version":3,"peers":[{"id":9223372036854775808,"name":"a","ip":"100.64.0.1",)"
                R"("public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","endpoints":[],"groups":[],"online":true}]})");
  CHECK(why == "field \"id\" is out of range");
}

TEST_CASE("api requests: every command the CLI sends parses and round-trips") {
  for (const char* line :
       {R"({"cmd":"status"})", R"({"cmd":"netcheck"})", R"({"cmd":"down"})", R"({"cmd":"nodes"})",
        R"({"cmd":"invite.list"})", R"({"cmd":"invite.revoke","id":"0123456789abcdef"})",
        R"({"cmd":"remove","node":"laptop"})", R"({"cmd":"rename","node":"laptop","name":"desk"})",
        R"({"cmd":"invite.create","uses":3,"reusable":false,"expires_s":3600,"groups":["g"],"ephemeral":true,"name":"x"})",
        R"({"cmd":"route.advertise","prefix":"10.1.0.0/24"})", R"({"cmd":"route.withdraw","prefix":"0.0.0.0/0"})",
        R"({"cmd":"route.approve","node":"gw","prefix":"10.1.0.0/24"})",
        R"({"cmd":"route.unapprove","node":"gw","prefix":"10.1.0.0/24"})", R"({"cmd":"route.list"})",
        R"({"cmd":"set","exit_node":"gw"})", R"({"cmd":"set"})",
        R"({"cmd":"group.add","node":"a","group":"g"})", R"({"cmd":"group.remove","node":"a","group":"g"})",
        R"({"cmd":"group.list"})", R"({"cmd":"policy.list"})", R"({"cmd":"policy.remove","name":"web"})",
        R"({"cmd":"policy.add","name":"web","from":"clients","to":"servers","proto":"tcp","ports":"80,443"})"}) {
    auto r = parse_api_request(line);
    REQUIRE_MESSAGE(std::holds_alternative<ApiRequest>(r), line);
    auto enc = encode_api_request(std::get<ApiRequest>(r));
    auto r2 = parse_api_request(enc);
    REQUIRE(std::holds_alternative<ApiRequest>(r2));
    CHECK(encode_api_request(std::get<ApiRequest>(r2)) == enc);
  }
  auto c = std::get<api::InviteCreate>(std::get<ApiRequest>(parse_api_request(R"({"cmd":"invite.create"})")));
  CHECK(c.uses == 1);
  CHECK(c.expires_s == 24 * 3600);
  c = std::get<api::InviteCreate>(std::get<ApiRequest>(parse_api_request(R"({"cmd":"invite.create","reusable":true})")));
  CHECK(c.uses == -1);
  CHECK(needs_coordinator(ApiRequest{api::Nodes{}}));
  CHECK(needs_coordinator(ApiRequest{api::PolicyList{}}));
  CHECK(needs_coordinator(ApiRequest{api::GroupAdd{}}));
  CHECK_FALSE(needs_coordinator(ApiRequest{api::Status{}}));
  CHECK(needs_coordinator(ApiRequest{api::RouteApprove{}}));
  CHECK_FALSE(needs_coordinator(ApiRequest{api::RouteList{}}));
  auto set = std::get<api::Set>(std::get<ApiRequest>(parse_api_request(R"({"cmd":"set"})")));
  CHECK_FALSE(set.exit_node);
  auto un = std::get<api::RouteApprove>(std::get<ApiRequest>(parse_api_request(R"({"cmd":"route.unapprove"})")));
  CHECK_FALSE(un.approve);
  // policy.add: proto defaults to any, ports to every port; the values are
  // the coordinator's to judge.
  auto p = std::get<api::PolicyAdd>(std::get<ApiRequest>(parse_api_request(R"({"cmd":"policy.add","name":"a"})")));
  CHECK(p.proto == "any");
  CHECK(p.ports.empty());
  CHECK(std::holds_alternative<std::string>(parse_api_request(R"({"cmd":"policy.add","ports":[80]})")));
  CHECK(std::holds_alternative<std::string>(parse_api_request(R"({"cmd":"group.add","group":7})")));
}

TEST_CASE("api requests: ill-typed fields are clear errors, not exceptions (regressions)") {
  // Each of these reached nlohmann's value<T>() in the daemon and threw a
  // type_error whose text ("[json.exception.type_error.302] ...") went to the user.
  auto err = [](const char* line) {
    auto r = parse_api_request(line);
    REQUIRE_MESSAGE(std::holds_alternative<std::string>(r), line);
    return std::get<std::string>(r);
  };
  CHECK(err(R"({"cmd":"invite.create","groups":"servers"})").find("\"groups\"") != std::string::npos);
  CHECK(err(R"({"cmd":"invite.create","groups":[1]})").find("\"groups\"") != std::string::npos);
  CHECK(err(R"({"cmd":"invite.create","reusable":"yes"})").find("\"reusable\"") != std::string::npos);
  CHECK(err(R"({"cmd":"remove","node":["a"]})").find("\"node\"") != std::string::npos);
  CHECK(err(R"({"cmd":"route.advertise","prefix":24})").find("\"prefix\"") != std::string::npos);
  CHECK(err(R"({"cmd":"set","exit_node":false})").find("\"exit_node\"") != std::string::npos);
  CHECK(err(R"({"cmd":7})") == "request has no \"cmd\" string");
  CHECK(err("not json") == "request is not a JSON object");
  CHECK(err(R"({"cmd":"invite.create","uses":1e300})").find("--uses") != std::string::npos);
  CHECK(err(R"({"cmd":"invite.create","uses":18446744073709551615})").find("--uses") != std::string::npos);
  CHECK(err(R"({"cmd":"invite.create","expires_s":0})").find("--expires") != std::string::npos);
  CHECK(err(R"({"cmd":"invite.create","name":"Bad Name"})").find("--name") != std::string::npos);
  CHECK(err(R"({"cmd":"nosuch"})") == "unknown command \"nosuch\"");
  // A command name with a terminal escape or of great length is not echoed.
  CHECK(err("{\"cmd\":\"\\u001b[2J\"}").find('\x1b') == std::string::npos);
  CHECK(err(("{\"cmd\":\"" + std::string(5000, 'x') + "\"}").c_str()).size() < 120);
}
