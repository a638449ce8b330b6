// Requests of the local API: one JSON object per line on the state dir's
// unix socket (the CLI is the only client; see man/ovl.1 for the answers).
// Parsing and validation live here, without I/O, so that every byte a client
// can send is covered by unit tests and a fuzz target; the daemon only
// dispatches a parsed request (src/engine/io/daemon_api.cpp).
//
//   {"cmd":"status"} {"cmd":"netcheck"} {"cmd":"down"} {"cmd":"nodes"}
//   {"cmd":"invite.create", "uses":1, "reusable":false, "expires_s":86400,
//    "groups":["servers"], "ephemeral":false, "name":""}     (all fields optional)
//   {"cmd":"invite.list"} {"cmd":"invite.revoke", "id":"<16 hex>"}
//   {"cmd":"remove", "node":"laptop"} {"cmd":"rename", "node":"laptop", "name":"new"}
//   {"cmd":"route.advertise", "prefix":"10.1.0.0/24"} {"cmd":"route.withdraw", "prefix":...}
//   {"cmd":"route.approve", "node":"gw", "prefix":...} {"cmd":"route.unapprove", ...}
//   {"cmd":"route.list"} {"cmd":"set", "exit_node":"gw"|"none"}   (exit_node optional)
//   {"cmd":"group.add"|"group.remove", "node":"laptop", "group":"servers"} {"cmd":"group.list"}
//   {"cmd":"policy.add", "name":"web", "from":"clients", "to":"servers", "proto":"tcp",
//    "ports":"80,443"} ("proto" default "any", "ports" default "" = every port)
//   {"cmd":"policy.list"} {"cmd":"policy.remove", "name":"web"}
//
// Whether a group, node, port list or policy makes sense is the coordinator's
// call (it knows the groups and nodes): these are only typed here. A route
// prefix likewise is checked by the daemon, which knows the overlay's range
// (control/routes.hpp).
//
// Fields other than these are ignored (older or newer clients); a field of
// the wrong type or out of range is an error that names it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ovl::control {

namespace api {
struct Status {};
struct Netcheck {};
struct Down {};
struct Nodes {};
struct InviteCreate {
  int uses = 1;  // -1: reusable
  int64_t expires_s = 24 * 3600;
  std::vector<std::string> groups;
  bool ephemeral = false;
  std::string name;  // "" or a valid node name
};
struct InviteList {};
struct InviteRevoke {
  std::string id;
};
struct Remove {
  std::string node;
};
struct Rename {
  std::string node, name;
};
struct RouteAdvertise {
  std::string prefix;
  bool withdraw = false;  // route.withdraw
};
struct RouteApprove {
  std::string node, prefix;
  bool approve = true;  // false: route.unapprove
};
struct RouteList {};
struct Set {
  std::optional<std::string> exit_node;  // a node name or IP, or "none"
};
struct GroupAdd {
  std::string node, group;
};
struct GroupRemove {
  std::string node, group;
};
struct GroupList {};
struct PolicyAdd {
  std::string name, from, to;
  std::string proto = "any";
  std::string ports;
};
struct PolicyList {};
struct PolicyRemove {
  std::string name;
};
}  // namespace api

using ApiRequest = std::variant<api::Status, api::Netcheck, api::Down, api::Nodes, api::InviteCreate,
                                api::InviteList, api::InviteRevoke, api::Remove, api::Rename, api::GroupAdd,
                                api::GroupRemove, api::GroupList, api::PolicyAdd, api::PolicyList,
                                api::PolicyRemove, api::RouteAdvertise, api::RouteApprove, api::RouteList, api::Set>;

inline constexpr int kMaxInviteUses = 1000000;
inline constexpr int64_t kMaxInviteTtl = int64_t(100) * 365 * 24 * 3600;  // 100 years
inline constexpr size_t kMaxApiGroups = 64;

// One request line (trailing newline allowed). Never throws; on failure
// returns the message for the client (at most ~120 printable characters: a
// command name is echoed only when short and plain).
std::variant<ApiRequest, std::string> parse_api_request(std::string_view line);

// The canonical JSON of a request (what parse_api_request reads back).
std::string encode_api_request(const ApiRequest& r);

// True for the requests only a coordinator can answer.
bool needs_coordinator(const ApiRequest& r);

}  // namespace ovl::control
