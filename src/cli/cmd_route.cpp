// `ovl route ...` (subnet routes and exit nodes) and `ovl set`: requests to
// the running daemon. Bad input (a malformed or forbidden prefix, an unknown
// node) exits with 2 and changes nothing; the daemon decides, since only it
// knows the overlay's range and the map.
#include <cstdio>
#include <string>

#include "cli/api_client.hpp"
#include "cli/commands.hpp"

namespace ovl::cli {

using json = nlohmann::json;

namespace {

// Calls the daemon; on failure prints "ovl: ..." and returns the exit status
// (2 when the daemon says the request was bad input), else -1.
int route_call(const GlobalOptions& g, const json& req, json& resp) {
  try {
    resp = api_call(g.state_dir, req);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ovl: %s\n", e.what());
    return kExitFailure;
  }
  if (!resp.contains("error")) return -1;
  const auto& e = resp["error"];
  std::fprintf(stderr, "ovl: %s\n", e.is_string() ? e.get<std::string>().c_str() : "the daemon reported an error");
  return resp.value("bad_input", false) ? kExitBadInput : kExitFailure;
}

int simple(const GlobalOptions& g, const json& req, const std::string& done) {
  json r;
  if (int rc = route_call(g, req, r); rc >= 0) return rc;
  if (g.json) std::printf("%s\n", r.dump().c_str());
  else std::printf("%s\n", done.c_str());
  return kExitOk;
}

}  // namespace

namespace {

// What the node advertises after the change: an exit route brings its other
// family along, which the user should see.
int advertised(const GlobalOptions& g, const json& req, const std::string& done) {
  json r;
  if (int rc = route_call(g, req, r); rc >= 0) return rc;
  if (g.json) {
    std::printf("%s\n", r.dump().c_str());
    return kExitOk;
  }
  std::string all;
  for (auto& p : r.value("routes", json::array())) all += (all.empty() ? "" : ", ") + p.get<std::string>();
  std::printf("%s; this node advertises %s\n", done.c_str(), all.empty() ? "nothing" : all.c_str());
  return kExitOk;
}

}  // namespace

int cmd_route_advertise(const GlobalOptions& g, const std::string& prefix) {
  return advertised(g, {{"cmd", "route.advertise"}, {"prefix", prefix}},
                    "advertising " + prefix + " (an admin approves it on the coordinator with `ovl route approve`)");
}

int cmd_route_withdraw(const GlobalOptions& g, const std::string& prefix) {
  return advertised(g, {{"cmd", "route.withdraw"}, {"prefix", prefix}}, "no longer advertising " + prefix);
}

int cmd_route_approve(const GlobalOptions& g, const std::string& node, const std::string& prefix, bool approve) {
  return simple(g, {{"cmd", approve ? "route.approve" : "route.unapprove"}, {"node", node}, {"prefix", prefix}},
                std::string(approve ? "approved " : "unapproved ") + prefix + " via " + node);
}

int cmd_route_list(const GlobalOptions& g) {
  json r;
  if (int rc = route_call(g, {{"cmd", "route.list"}}, r); rc >= 0) return rc;
  if (g.json) {
    std::printf("%s\n", r.dump(2).c_str());
    return kExitOk;
  }
  if (r["routes"].empty()) {
    std::printf("no routes advertised (advertise one with `ovl route advertise CIDR` on the node)\n");
    return kExitOk;
  }
  std::printf("%-20s %-30s %-10s %-9s %s\n", "NODE", "PREFIX", "ADVERTISED", "APPROVED", "STATE");
  for (auto& x : r["routes"]) {
    bool adv = x["advertised"].get<bool>(), ok = x["approved"].get<bool>();
    const char* state = adv && ok ? "active" : adv ? "awaiting approval" : "not advertised";
    std::string prefix = x["prefix"].get<std::string>() + (x["exit"].get<bool>() ? " (exit)" : "");
    std::printf("%-20s %-30s %-10s %-9s %s\n", x["node"].get<std::string>().c_str(), prefix.c_str(),
                adv ? "yes" : "no", ok ? "yes" : "no", state);
  }
  return kExitOk;
}

int cmd_set(const GlobalOptions& g, const SetOptions& o) {
  if (!o.exit_node) {
    std::fprintf(stderr, "ovl: nothing to set (see `ovl set --help`)\n");
    return kExitBadInput;
  }
  const std::string& e = *o.exit_node;
  return simple(g, {{"cmd", "set"}, {"exit_node", e}},
                e == "none" || e.empty() ? "exit node: none; traffic goes out directly"
                                         : "exit node: " + e + "; traffic to the internet goes through it");
}

}  // namespace ovl::cli
