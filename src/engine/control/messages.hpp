// Control-plane messages between a node and its coordinator, carried as JSON
// text inside a SecureChannel (one message per frame). Every message is an
// object with a "type" field:
//
// node -> coordinator
//   {"type":"hello", "name":"", "hostname":"laptop", "listen_port":51820,
//    "endpoints":["192.168.1.2:51820"], "reflexive":"203.0.113.10:51820" (if known),
//    "routes":["10.1.0.0/24"] (advertised subnet routes; optional),
//    "enroll":{"invite":"<16 hex>", "secret":"<base64url>"}}   (only when joining)
//   {"type":"endpoints", "endpoints":[...], "reflexive":"203.0.113.10:40001"}  (candidates changed)
//   {"type":"routes", "advertise":["10.1.0.0/24","0.0.0.0/0"]}  (the whole set this node offers)
//   {"type":"ping"}                                            (link liveness)
//   {"type":"call_me_maybe", "peer":"<b64 key of the target>", ...cmm}
//
// coordinator -> node
//   {"type":"welcome", "self":{peer}, "network":{"id","name","cidr","domain","ula"},
//    "relays":[{"endpoint":"203.0.113.1:51822","expires":1700000000,"mac":"<base64>","key":"<base64>"}]}
//   {"type":"map", "version":N, "peers":[{peer}...], "filter":{filter}}   (full map; includes self)
//   {"type":"delta", "version":N, "upsert":[{peer}...], "remove":["<public key b64>"...],
//    "filter":{filter} (only when this node's filter changed)}
//   {"type":"pong"}
//   {"type":"call_me_maybe", "peer":"<b64 key of the sender>", ...cmm}   (forwarded)
//   {"type":"error", "code":"used_up", "message":"..."}        (then the link closes)
//
// ...cmm = "endpoints":[...] (the sender's candidates), "mapping":"endpoint-independent"
//   | "endpoint-dependent" | "unknown", "udp":true (STUN answered the sender), and
//   "spray":true when the sender offers or accepts birthday spraying with the peer.
//   A call-me-maybe asks the peer to send disco pings now, so both NATs open at once.
//
// {peer} = {"id":7, "name":"laptop", "ip":"100.83.0.2", "ip6":"fd12:3456:789a::6453:2",
//           "public_key":"<b64>", "endpoints":["203.0.113.10:51820", ...], "groups":["servers"],
//           "online":true, "routes":["10.1.0.0/24"]}   (routes: approved and advertised; absent = none)
// "ula" (the network's IPv6 /48) and "ip6" are absent from older coordinators;
// older nodes ignore them.
// {filter} = {"rules":[{"src":["100.83.0.0/16"], "dst":["100.83.0.2/32"], "proto":"tcp",
//             "ports":"22,8000-8100" ("" = every port)}...]}
//   what the receiving node admits (engine/policy); unlike the peers it is
//   compiled for each node. A map without one comes from a coordinator that
//   predates policies: the node then filters nothing.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/crypto/keys.hpp"
#include "engine/net/ip.hpp"
#include "engine/policy/policy.hpp"

namespace ovl::control {

struct PeerInfo {
  int64_t id = 0;
  std::string name;
  net::IpAddr ip;
  std::optional<net::IpAddr> ip6;  // IPv6 overlay address (control::node_ipv6)
  crypto::PublicKey public_key{};
  std::vector<net::Endpoint> endpoints;
  std::vector<std::string> groups;
  bool online = false;
  // Prefixes routed to this peer: advertised by it and approved by an admin
  // (0.0.0.0/0 and ::/0 = it is an exit node). Normalized (control/routes.hpp).
  std::vector<net::Prefix> routes;
  bool operator==(const PeerInfo&) const = default;
};

struct NetworkSummary {
  std::string id, name, domain;
  net::Prefix cidr;
  std::optional<net::Prefix> ula;  // the network's IPv6 /48
};

struct Hello {
  std::string name;      // explicit name ("" = let the invite or the hostname decide)
  std::string hostname;  // fallback name
  uint16_t listen_port = 0;
  std::vector<net::Endpoint> endpoints;      // LAN candidates
  std::optional<net::Endpoint> reflexive;    // public mapping learned by STUN
  std::optional<std::string> invite_id;      // enrolling
  std::optional<std::string> invite_secret;  // base64url; present with invite_id
  std::vector<net::Prefix> routes;           // advertised subnet/exit routes
};
// The node's advertised routes changed (the whole new set).
struct RoutesUpdate {
  std::vector<net::Prefix> advertise;
};
struct EndpointsUpdate {
  std::vector<net::Endpoint> endpoints;
  std::optional<net::Endpoint> reflexive;
};
struct Ping {};
struct Pong {};
// Node -> coordinator: `peer` is the target; coordinator -> node: the sender.
struct CallMeMaybe {
  crypto::PublicKey peer{};
  std::vector<net::Endpoint> endpoints;
  std::string mapping = "unknown";
  bool udp = true;
  bool spray = false;
  bool operator==(const CallMeMaybe&) const = default;
};
// Lets a node use a relay: a MAC by the relay's secret over (node key,
// expiry), which the relay checks without asking the coordinator, and the
// relay's public key, with which the node proves it holds its own private
// key (relay/credential.hpp). A zero key (older coordinators) cannot be used.
struct RelayGrant {
  net::Endpoint relay;
  uint64_t expires_unix = 0;
  std::array<uint8_t, 32> mac{};
  crypto::PublicKey relay_key{};
  bool operator==(const RelayGrant&) const = default;
};
struct Welcome {
  PeerInfo self;
  NetworkSummary network;
  std::vector<RelayGrant> relays;
};
struct FullMap {
  uint64_t version = 0;
  std::vector<PeerInfo> peers;
  std::optional<policy::RuleSet> filter;
};
struct Delta {
  uint64_t version = 0;
  std::vector<PeerInfo> upsert;
  std::vector<crypto::PublicKey> remove;
  std::optional<policy::RuleSet> filter;  // replaces the node's filter when present
};
struct ErrorMsg {
  std::string code, message;
};

using Message = std::variant<Hello, EndpointsUpdate, Ping, Pong, Welcome, FullMap, Delta, ErrorMsg, RoutesUpdate,
                             CallMeMaybe>;

std::string encode(const Message& m);
// nullopt for anything malformed (bad JSON, missing or ill-typed fields,
// unknown type). `why` (if given) says what was wrong, without echoing input.
std::optional<Message> decode(std::string_view json, std::string* why = nullptr);

// The JSON of one peer, shared by map and delta encodings (and status output).
std::string encode_peer(const PeerInfo& p);
// A node's filter as the "filter" field of a map or delta carries it.
std::string encode_filter(const policy::RuleSet& f);

}  // namespace ovl::control
