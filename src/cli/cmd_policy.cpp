// Groups and access policies, on the coordinator: `ovl group add|remove|list`
// and `ovl policy add|list|rm`. The coordinator checks every request; a
// request that makes no sense exits with 2 and changes nothing.
#include <cstdio>
#include <string>

#include "cli/api_client.hpp"
#include "cli/commands.hpp"

namespace ovl::cli {

using json = nlohmann::json;

namespace {

// Calls the daemon. On failure prints "ovl: ..." and returns the exit code:
// 2 when the daemon said the request was bad input, else 1.
int call(const GlobalOptions& g, const json& req, json& resp) {
  try {
    resp = api_call(g.state_dir, req);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ovl: %s\n", e.what());
    return kExitFailure;
  }
  if (!resp.contains("error")) return kExitOk;
  const auto& e = resp["error"];
  std::fprintf(stderr, "ovl: %s\n", e.is_string() ? e.get<std::string>().c_str() : "the daemon reported an error");
  return resp.value("bad_input", false) ? kExitBadInput : kExitFailure;
}

int ok(const GlobalOptions& g, const std::string& msg) {
  if (g.json) std::printf("{\"ok\":true}\n");
  else std::printf("%s\n", msg.c_str());
  return kExitOk;
}

std::string joined(const json& a) {
  std::string s;
  for (auto& x : a) s += (s.empty() ? "" : ",") + x.get<std::string>();
  return s.empty() ? "-" : s;
}

}  // namespace

int cmd_group_add(const GlobalOptions& g, const std::string& node, const std::string& group) {
  json r;
  if (int rc = call(g, {{"cmd", "group.add"}, {"node", node}, {"group", group}}, r)) return rc;
  return ok(g, "added " + node + " to group " + group);
}

int cmd_group_remove(const GlobalOptions& g, const std::string& node, const std::string& group) {
  json r;
  if (int rc = call(g, {{"cmd", "group.remove"}, {"node", node}, {"group", group}}, r)) return rc;
  return ok(g, "removed " + node + " from group " + group);
}

int cmd_group_list(const GlobalOptions& g) {
  json r;
  if (int rc = call(g, {{"cmd", "group.list"}}, r)) return rc;
  if (g.json) {
    std::printf("%s\n", r.dump(2).c_str());
    return kExitOk;
  }
  if (r["groups"].empty()) {
    std::printf("no groups yet; add a node to one with `ovl group add NODE GROUP`\n");
    return kExitOk;
  }
  std::printf("%-24s %s\n", "GROUP", "NODES");
  for (auto& gr : r["groups"])
    std::printf("%-24s %s\n", gr["name"].get<std::string>().c_str(), joined(gr["nodes"]).c_str());
  return kExitOk;
}

int cmd_policy_add(const GlobalOptions& g, const PolicyOptions& o) {
  json req{{"cmd", "policy.add"}, {"name", o.name}, {"from", o.from}, {"to", o.to}, {"proto", o.proto},
           {"ports", o.ports}};
  json r;
  if (int rc = call(g, req, r)) return rc;
  return ok(g, "policy " + o.name + " added; it reaches every node within seconds");
}

int cmd_policy_list(const GlobalOptions& g) {
  json r;
  if (int rc = call(g, {{"cmd", "policy.list"}}, r)) return rc;
  if (g.json) {
    std::printf("%s\n", r.dump(2).c_str());
    return kExitOk;
  }
  if (r["policies"].empty()) {
    std::printf("no policies: every node only accepts replies to its own connections (default deny)\n");
    return kExitOk;
  }
  std::printf("%-20s %-24s %-24s %-6s %s\n", "NAME", "FROM", "TO", "PROTO", "PORTS");
  for (auto& p : r["policies"]) {
    std::string ports = p["ports"].get<std::string>();
    std::printf("%-20s %-24s %-24s %-6s %s\n", p["name"].get<std::string>().c_str(), p["from"].get<std::string>().c_str(),
                p["to"].get<std::string>().c_str(), p["proto"].get<std::string>().c_str(),
                ports.empty() ? "all" : ports.c_str());
  }
  return kExitOk;
}

int cmd_policy_rm(const GlobalOptions& g, const std::string& name) {
  json r;
  if (int rc = call(g, {{"cmd", "policy.remove"}, {"name", name}}, r)) return rc;
  return ok(g, "policy " + name + " removed");
}

}  // namespace ovl::cli
