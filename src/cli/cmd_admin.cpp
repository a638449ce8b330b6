// Commands that talk to the running daemon over the local API: status,
// nodes, invites, remove, rename, down.
#include <cstdio>
#include <ctime>
#include <string>

#include "cli/api_client.hpp"
#include "cli/commands.hpp"
#include "cli/state.hpp"

namespace ovl::cli {

using json = nlohmann::json;

namespace {

// Calls the daemon; prints its error and returns false on failure.
bool call(const GlobalOptions& g, const json& req, json& resp, int& rc) {
  if (api_request(g.state_dir, req, resp)) return true;
  rc = kExitFailure;
  return false;
}

std::string ago(const json& unix_s) {
  if (!unix_s.is_number()) return "never";
  int64_t d = static_cast<int64_t>(std::time(nullptr)) - unix_s.get<int64_t>();
  if (d < 0) d = 0;
  if (d < 120) return std::to_string(d) + "s ago";
  if (d < 7200) return std::to_string(d / 60) + "m ago";
  if (d < 172800) return std::to_string(d / 3600) + "h ago";
  return std::to_string(d / 86400) + "d ago";
}

std::string bytes(uint64_t b) {
  const char* u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int i = 0;
  while (v >= 1024 && i < 4) v /= 1024, ++i;
  char buf[32];
  std::snprintf(buf, sizeof buf, i ? "%.1f %s" : "%.0f %s", v, u[i]);
  return buf;
}

std::string date(int64_t unix_s) {
  if (!unix_s) return "never";
  char buf[32];
  time_t t = static_cast<time_t>(unix_s);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::gmtime(&t));
  return buf;
}

}  // namespace

int cmd_status(const GlobalOptions& g) {
  json r;
  int rc = 0;
  if (!call(g, {{"cmd", "status"}}, r, rc)) return rc;
  if (g.json) {
    std::printf("%s\n", r.dump(2).c_str());
    return kExitOk;
  }
  if (r["self"].is_null()) {
    if (r["control"] == "none")
      std::printf("coordinator only: no node runs on this host (see `ovl nodes`)\n");
    else
      std::printf("not a member of a network yet (control link %s)\n", r["control"].get<std::string>().c_str());
    return kExitOk;
  }
  auto& s = r["self"];
  std::string ip = s["ip"].get<std::string>();
  if (s.contains("ip6") && s["ip6"].is_string()) ip += " " + s["ip6"].get<std::string>();
  std::printf("network %s %s · this node: %s %s%s · control link %s\n", s["network"].get<std::string>().c_str(),
              s["cidr"].get<std::string>().c_str(), s["name"].get<std::string>().c_str(), ip.c_str(),
              r["coordinator"].get<bool>() ? " (coordinator)" : "", r["control"].get<std::string>().c_str());
  auto list = [](const json& a) {
    std::string out;
    for (auto& x : a) out += (out.empty() ? "" : ", ") + x.get<std::string>();
    return out;
  };
  if (r.contains("advertised_routes") && !r["advertised_routes"].empty())
    std::printf("advertising %s\n", list(r["advertised_routes"]).c_str());
  if (r.contains("exit_node") && r["exit_node"].is_object()) {
    auto& e = r["exit_node"];
    std::string how = e.value("problem", std::string("not in use"));
    if (e["active"].get<bool>()) how = "in use (" + list(e.value("families", json::array())) + ")";
    std::printf("exit node %s: %s\n", e["node"].get<std::string>().c_str(), how.c_str());
  }
  if (r["peers"].empty()) {
    std::printf("no other nodes yet; invite one with `ovl invite` on the coordinator\n");
    return kExitOk;
  }
  std::printf("%-20s %-15s %-14s %-24s %8s %-10s %10s %10s %8s\n", "NAME", "IP", "PATH", "ENDPOINT", "RTT",
              "HANDSHAKE", "RX", "TX", "DENIED");
  for (auto& p : r["peers"]) {
    std::string ep = p["endpoint"].is_string() ? p["endpoint"].get<std::string>() : "-";
    std::string path = p["path"].get<std::string>();
    if (path == "direct" && p.contains("direct")) path += "/" + p["direct"].get<std::string>();  // lan or public
    char rtt[32] = "-";
    if (p.contains("rtt_ms")) std::snprintf(rtt, sizeof rtt, "%.1fms", p["rtt_ms"].get<double>());
    std::printf("%-20s %-15s %-14s %-24s %8s %-10s %10s %10s %8llu\n", p["name"].get<std::string>().c_str(),
                p["ip"].get<std::string>().c_str(), path.c_str(), ep.c_str(), rtt, ago(p["last_handshake"]).c_str(),
                bytes(p["rx_bytes"].get<uint64_t>()).c_str(), bytes(p["tx_bytes"].get<uint64_t>()).c_str(),
                static_cast<unsigned long long>(p.value("denied_packets", uint64_t{0})));
    if (p.contains("relay_reason") && p["relay_reason"].is_string() && !p["relay_reason"].get<std::string>().empty())
      std::printf("  %s relayed: %s\n", p["name"].get<std::string>().c_str(),
                  p["relay_reason"].get<std::string>().c_str());
  }
  if (auto& pol = r["policy"]; pol.is_object()) {
    if (pol["enforcing"].get<bool>())
      std::printf("access policy: %zu rule(s) admit traffic to this node; %llu packet(s) denied\n",
                  pol["rules"].get<size_t>(), static_cast<unsigned long long>(pol["denied_packets"].get<uint64_t>()));
    else
      std::printf("access policy: none from the coordinator; all traffic is admitted\n");
  }
  for (auto& p : r["peers"])
    if (p.contains("routes") && !p["routes"].empty())
      std::printf("routes via %s: %s\n", p["name"].get<std::string>().c_str(), list(p["routes"]).c_str());
  return kExitOk;
}

int cmd_nodes(const GlobalOptions& g) {
  json r;
  int rc = 0;
  if (!call(g, {{"cmd", "nodes"}}, r, rc)) return rc;
  if (g.json) {
    std::printf("%s\n", r.dump(2).c_str());
    return kExitOk;
  }
  std::printf("%-20s %-15s %-8s %-20s %s\n", "NAME", "IP", "ONLINE", "LAST SEEN", "GROUPS");
  for (auto& n : r["nodes"]) {
    std::string groups;
    for (auto& gr : n["groups"]) groups += (groups.empty() ? "" : ",") + gr.get<std::string>();
    std::printf("%-20s %-15s %-8s %-20s %s\n", n["name"].get<std::string>().c_str(), n["ip"].get<std::string>().c_str(),
                n["online"].get<bool>() ? "yes" : "no", date(n["last_seen"].get<int64_t>()).c_str(),
                groups.empty() ? "-" : groups.c_str());
  }
  return kExitOk;
}

int cmd_down(const GlobalOptions& g) {
  json r;
  int rc = 0;
  if (!call(g, {{"cmd", "down"}}, r, rc)) return rc;
  if (!g.json) std::printf("ovl stopped\n");
  else std::printf("{\"ok\":true}\n");
  return kExitOk;
}

int cmd_remove(const GlobalOptions& g, const std::string& node) {
  json r;
  int rc = 0;
  if (!call(g, {{"cmd", "remove"}, {"node", node}}, r, rc)) return rc;
  if (g.json) std::printf("{\"ok\":true}\n");
  else std::printf("removed %s from the network\n", node.c_str());
  return kExitOk;
}

int cmd_rename(const GlobalOptions& g, const std::string& node, const std::string& new_name) {
  json r;
  int rc = 0;
  if (!call(g, {{"cmd", "rename"}, {"node", node}, {"name", new_name}}, r, rc)) return rc;
  if (g.json) std::printf("{\"ok\":true}\n");
  else std::printf("renamed %s to %s\n", node.c_str(), new_name.c_str());
  return kExitOk;
}

int cmd_invite(const GlobalOptions& g, const InviteOptions& o) {
  auto ttl = parse_duration(o.expires);
  if (!ttl) {
    std::fprintf(stderr, "ovl: --expires \"%s\" is not a duration like 90m, 24h or 7d\n", o.expires.c_str());
    return kExitBadInput;
  }
  if (!o.reusable && o.uses < 1) {
    std::fprintf(stderr, "ovl: --uses must be at least 1\n");
    return kExitBadInput;
  }
  json req{{"cmd", "invite.create"}, {"uses", o.uses},           {"reusable", o.reusable}, {"expires_s", *ttl},
           {"groups", o.groups},     {"ephemeral", o.ephemeral}, {"name", o.name}};
  json r;
  int rc = 0;
  if (!call(g, req, r, rc)) return rc;
  if (g.json) {
    std::printf("%s\n", json{{"token", r["token"]}, {"id", r["id"]}, {"expires", r["expires"]}}.dump().c_str());
    return kExitOk;
  }
  std::string uses = o.reusable ? "reusable" : (o.uses == 1 ? "one use" : std::to_string(o.uses) + " uses");
  std::printf("invite %s (%s, valid until %s UTC):\n%s\n", r["id"].get<std::string>().c_str(), uses.c_str(),
              date(r["expires"].get<int64_t>()).c_str(), r["token"].get<std::string>().c_str());
  return kExitOk;
}

int cmd_invite_list(const GlobalOptions& g) {
  json r;
  int rc = 0;
  if (!call(g, {{"cmd", "invite.list"}}, r, rc)) return rc;
  if (g.json) {
    std::printf("%s\n", r.dump(2).c_str());
    return kExitOk;
  }
  std::printf("%-18s %-10s %-6s %-18s %-8s %s\n", "ID", "USES LEFT", "USED", "EXPIRES (UTC)", "STATE", "GROUPS");
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (auto& i : r["invites"]) {
    std::string left = i["reusable"].get<bool>() ? "unlimited" : std::to_string(i["uses_left"].get<int>());
    std::string state = i["revoked"].get<bool>()                     ? "revoked"
                        : i["expires"].get<int64_t>() && i["expires"].get<int64_t>() < now ? "expired"
                        : (!i["reusable"].get<bool>() && i["uses_left"].get<int>() == 0) ? "used"
                                                                                          : "active";
    std::string groups;
    for (auto& gr : i["groups"]) groups += (groups.empty() ? "" : ",") + gr.get<std::string>();
    std::printf("%-18s %-10s %-6d %-18s %-8s %s\n", i["id"].get<std::string>().c_str(), left.c_str(),
                i["used"].get<int>(), date(i["expires"].get<int64_t>()).c_str(), state.c_str(),
                groups.empty() ? "-" : groups.c_str());
  }
  return kExitOk;
}

int cmd_invite_revoke(const GlobalOptions& g, const std::string& id) {
  json r;
  int rc = 0;
  if (!call(g, {{"cmd", "invite.revoke"}, {"id", id}}, r, rc)) return rc;
  if (g.json) std::printf("{\"ok\":true}\n");
  else std::printf("invite %s revoked\n", id.c_str());
  return kExitOk;
}

}  // namespace ovl::cli
