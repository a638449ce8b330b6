#include "engine/control/api_request.hpp"

#include <nlohmann/json.hpp>
#include <optional>

#include "engine/control/registry.hpp"

namespace ovl::control {

using json = nlohmann::json;

namespace {

// Reads optional fields of one request; the first problem wins. Messages
// name the field (and the CLI option that feeds it), never the value.
struct Fields {
  const json& j;
  std::string err;

  const json* find(const char* k) {
    auto it = j.find(k);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }
  bool fail(std::string m) {
    if (err.empty()) err = std::move(m);
    return false;
  }
  std::string str(const char* k) {
    auto* f = find(k);
    if (!f) return {};
    if (!f->is_string()) return fail(std::string("field \"") + k + "\" must be a string"), std::string();
    return f->get<std::string>();
  }
  bool boolean(const char* k) {
    auto* f = find(k);
    if (!f) return false;
    if (!f->is_boolean()) return fail(std::string("field \"") + k + "\" must be true or false"), false;
    return f->get<bool>();
  }
  // Checked as a JSON integer first: a float like 1e300 must not reach an int.
  std::optional<int64_t> integer(const char* k, int64_t def, int64_t lo, int64_t hi) {
    auto* f = find(k);
    if (!f) return def;
    if (!f->is_number_integer()) return std::nullopt;
    if (f->is_number_unsigned() && f->get<uint64_t>() > uint64_t(hi)) return std::nullopt;
    int64_t v = f->get<int64_t>();
    if (v < lo || v > hi) return std::nullopt;
    return v;
  }
  std::vector<std::string> strings(const char* k, size_t max) {
    std::vector<std::string> r;
    auto* f = find(k);
    if (!f) return r;
    if (!f->is_array() || f->size() > max)
      return fail(std::string("field \"") + k + "\" must be a list of at most " + std::to_string(max) + " strings"), r;
    for (auto& e : *f) {
      if (!e.is_string()) return fail(std::string("field \"") + k + "\" must hold strings"), r;
      r.push_back(e.get<std::string>());
    }
    return r;
  }
};

// A command name goes back to the client only if it is short and plain, so
// an error can neither flood a terminal nor carry control sequences.
std::string quoted_cmd(const std::string& cmd) {
  if (cmd.empty()) return "";
  if (cmd.size() > 40) return " (a long name)";
  for (unsigned char c : cmd)
    if (c < 0x20 || c > 0x7e) return " (a name with unprintable characters)";
  return " \"" + cmd + "\"";
}

}  // namespace

std::variant<ApiRequest, std::string> parse_api_request(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::string("request is not a JSON object");
  Fields f{j, {}};
  auto* c = f.find("cmd");
  if (!c || !c->is_string()) return std::string("request has no \"cmd\" string");
  const std::string cmd = c->get<std::string>();
  ApiRequest r;
  if (cmd == "status") r = api::Status{};
  else if (cmd == "netcheck") r = api::Netcheck{};
  else if (cmd == "down") r = api::Down{};
  else if (cmd == "nodes") r = api::Nodes{};
  else if (cmd == "invite.list") r = api::InviteList{};
  else if (cmd == "invite.revoke") r = api::InviteRevoke{f.str("id")};
  else if (cmd == "remove") r = api::Remove{f.str("node")};
  else if (cmd == "rename") r = api::Rename{f.str("node"), f.str("name")};
  else if (cmd == "route.advertise" || cmd == "route.withdraw")
    r = api::RouteAdvertise{f.str("prefix"), cmd == "route.withdraw"};
  else if (cmd == "route.approve" || cmd == "route.unapprove")
    r = api::RouteApprove{f.str("node"), f.str("prefix"), cmd == "route.approve"};
  else if (cmd == "route.list") r = api::RouteList{};
  else if (cmd == "set") {
    api::Set o;
    if (f.find("exit_node")) o.exit_node = f.str("exit_node");
    r = std::move(o);
  }
  else if (cmd == "group.add") r = api::GroupAdd{f.str("node"), f.str("group")};
  else if (cmd == "group.remove") r = api::GroupRemove{f.str("node"), f.str("group")};
  else if (cmd == "group.list") r = api::GroupList{};
  else if (cmd == "policy.list") r = api::PolicyList{};
  else if (cmd == "policy.remove") r = api::PolicyRemove{f.str("name")};
  else if (cmd == "policy.add") {
    api::PolicyAdd p{f.str("name"), f.str("from"), f.str("to"), f.str("proto"), f.str("ports")};
    if (p.proto.empty()) p.proto = "any";
    r = std::move(p);
  }
  else if (cmd == "invite.create") {
    api::InviteCreate o;
    auto uses = f.integer("uses", 1, 1, kMaxInviteUses);
    if (!uses) return "--uses must be a whole number from 1 to " + std::to_string(kMaxInviteUses);
    o.uses = static_cast<int>(*uses);
    if (f.boolean("reusable")) o.uses = -1;
    auto ttl = f.integer("expires_s", o.expires_s, 1, kMaxInviteTtl);
    if (!ttl) return std::string("--expires must be between 1 second and 100 years");
    o.expires_s = *ttl;
    o.groups = f.strings("groups", kMaxApiGroups);
    o.ephemeral = f.boolean("ephemeral");
    o.name = f.str("name");
    if (f.err.empty() && !o.name.empty() && !valid_node_name(o.name))
      return std::string("--name is not a valid node name (use a-z, 0-9 and '-', at most 63)");
    r = std::move(o);
  } else {
    return "unknown command" + quoted_cmd(cmd);
  }
  if (!f.err.empty()) return f.err;
  return r;
}

std::string encode_api_request(const ApiRequest& r) {
  json j;
  std::visit(
      [&](auto&& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, api::Status>) j = {{"cmd", "status"}};
        else if constexpr (std::is_same_v<T, api::Netcheck>) j = {{"cmd", "netcheck"}};
        else if constexpr (std::is_same_v<T, api::Down>) j = {{"cmd", "down"}};
        else if constexpr (std::is_same_v<T, api::Nodes>) j = {{"cmd", "nodes"}};
        else if constexpr (std::is_same_v<T, api::InviteList>) j = {{"cmd", "invite.list"}};
        else if constexpr (std::is_same_v<T, api::InviteRevoke>) j = {{"cmd", "invite.revoke"}, {"id", v.id}};
        else if constexpr (std::is_same_v<T, api::Remove>) j = {{"cmd", "remove"}, {"node", v.node}};
        else if constexpr (std::is_same_v<T, api::Rename>) j = {{"cmd", "rename"}, {"node", v.node}, {"name", v.name}};
        else if constexpr (std::is_same_v<T, api::RouteAdvertise>)
          j = {{"cmd", v.withdraw ? "route.withdraw" : "route.advertise"}, {"prefix", v.prefix}};
        else if constexpr (std::is_same_v<T, api::RouteApprove>)
          j = {{"cmd", v.approve ? "route.approve" : "route.unapprove"}, {"node", v.node}, {"prefix", v.prefix}};
        else if constexpr (std::is_same_v<T, api::RouteList>) j = {{"cmd", "route.list"}};
        else if constexpr (std::is_same_v<T, api::Set>) {
          j = {{"cmd", "set"}};
          if (v.exit_node) j["exit_node"] = *v.exit_node;
        }
        else if constexpr (std::is_same_v<T, api::GroupAdd>) j = {{"cmd", "group.add"}, {"node", v.node}, {"group", v.group}};
        else if constexpr (std::is_same_v<T, api::GroupRemove>)
          j = {{"cmd", "group.remove"}, {"node", v.node}, {"group", v.group}};
        else if constexpr (std::is_same_v<T, api::GroupList>) j = {{"cmd", "group.list"}};
        else if constexpr (std::is_same_v<T, api::PolicyList>) j = {{"cmd", "policy.list"}};
        else if constexpr (std::is_same_v<T, api::PolicyRemove>) j = {{"cmd", "policy.remove"}, {"name", v.name}};
        else if constexpr (std::is_same_v<T, api::PolicyAdd>)
          j = {{"cmd", "policy.add"}, {"name", v.name},   {"from", v.from},
               {"to", v.to},          {"proto", v.proto}, {"ports", v.ports}};
        else if constexpr (std::is_same_v<T, api::InviteCreate>) {
          j = {{"cmd", "invite.create"}, {"reusable", v.uses < 0}, {"expires_s", v.expires_s},
               {"groups", v.groups},    {"ephemeral", v.ephemeral}, {"name", v.name}};
          if (v.uses >= 0) j["uses"] = v.uses;
        }
      },
      r);
  return j.dump();
}

bool needs_coordinator(const ApiRequest& r) {
  return !std::holds_alternative<api::Status>(r) && !std::holds_alternative<api::Netcheck>(r) &&
         !std::holds_alternative<api::Down>(r) && !std::holds_alternative<api::RouteAdvertise>(r) &&
         !std::holds_alternative<api::RouteList>(r) && !std::holds_alternative<api::Set>(r);
}

}  // namespace ovl::control
