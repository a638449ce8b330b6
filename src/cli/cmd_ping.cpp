// `ovl ping PEER` and `ovl netcheck`.
//
// ping sends real ICMP echo requests to the peer's overlay address (so it
// tests exactly what applications get) and, after each answer, asks the
// daemon which path carries that peer right now.
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/api_client.hpp"
#include "cli/commands.hpp"
#include "engine/net/ip.hpp"

namespace ovl::cli {

using json = nlohmann::json;

namespace {

uint16_t checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// The peer (by name, overlay IP or public key) in the daemon's status.
std::optional<json> find_peer(const json& status, const std::string& which) {
  for (auto& p : status["peers"])
    if (p["name"] == which || p["ip"] == which || p["public_key"] == which) return p;
  return std::nullopt;
}

// One ICMP echo; the round-trip time in ms, or a negative number on timeout.
double echo(int fd, bool raw, const net::IpAddr& dst, uint16_t id, uint16_t seq, double timeout_ms) {
  uint8_t pkt[64] = {};
  pkt[0] = ICMP_ECHO;
  pkt[4] = static_cast<uint8_t>(id >> 8), pkt[5] = static_cast<uint8_t>(id);
  pkt[6] = static_cast<uint8_t>(seq >> 8), pkt[7] = static_cast<uint8_t>(seq);
  std::memcpy(pkt + 8, "ovl ping", 8);
  uint16_t c = checksum(pkt, sizeof pkt);
  pkt[2] = static_cast<uint8_t>(c >> 8), pkt[3] = static_cast<uint8_t>(c);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  std::memcpy(&sa.sin_addr, dst.b.data(), 4);
  auto t0 = std::chrono::steady_clock::now();
  if (sendto(fd, pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return -1;
  for (;;) {
    double left = timeout_ms - std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (left <= 0) return -1;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left) + 1) <= 0) continue;
    uint8_t buf[1500];
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n <= 0 || std::memcmp(&from.sin_addr, dst.b.data(), 4) != 0) continue;
    const uint8_t* icmp = buf;
    if (raw) {  // raw sockets deliver the IP header too
      size_t ihl = (buf[0] & 0x0f) * 4u;
      if (static_cast<size_t>(n) < ihl + 8) continue;
      icmp = buf + ihl;
      n -= static_cast<ssize_t>(ihl);
    }
    if (n < 8 || icmp[0] != ICMP_ECHOREPLY) continue;
    uint16_t rseq = static_cast<uint16_t>(icmp[6] << 8 | icmp[7]);
    uint16_t rid = static_cast<uint16_t>(icmp[4] << 8 | icmp[5]);
    if (rseq != seq || (raw && rid != id)) continue;  // datagram sockets rewrite the id
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
}

}  // namespace

int cmd_ping(const GlobalOptions& g, const PingOptions& o) {
  json status;
  if (!api_request(g.state_dir, {{"cmd", "status"}}, status)) return kExitFailure;
  auto peer = find_peer(status, o.peer);
  if (!peer) {
    std::fprintf(stderr, "ovl: no peer \"%s\" in this network (see `ovl status`)\n", o.peer.c_str());
    return kExitBadInput;
  }
  auto ip = net::IpAddr::parse((*peer)["ip"].get<std::string>());
  bool raw = false;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) {
    fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    raw = true;
  }
  if (fd < 0) {
    std::fprintf(stderr, "ovl: cannot open an ICMP socket: %s (run as root)\n", std::strerror(errno));
    return kExitFailure;
  }
  std::string name = (*peer)["name"];
  uint16_t id = static_cast<uint16_t>(getpid());
  int answered = 0;
  bool direct = false;
  int count = o.count > 0 ? o.count : (o.until_direct ? 30 : 4);
  for (int seq = 1; seq <= count; ++seq) {
    double rtt = echo(fd, raw, *ip, id, static_cast<uint16_t>(seq), o.timeout_s * 1000);
    json now = api_call(g.state_dir, {{"cmd", "status"}});
    auto p = find_peer(now, o.peer).value_or(*peer);
    std::string path = p["path"];
    std::string ep = p["endpoint"].is_string() ? p["endpoint"].get<std::string>() : "-";
    if (rtt >= 0) {
      ++answered;
      direct = path == "direct";
      if (g.json)
        std::printf("%s\n", json{{"seq", seq}, {"peer", name}, {"ip", ip->str()}, {"rtt_ms", rtt}, {"path", path},
                                 {"endpoint", ep}}
                                .dump()
                                .c_str());
      else
        std::printf("pong from %s (%s) via %s %s in %.2f ms\n", name.c_str(), ip->str().c_str(), path.c_str(),
                    ep.c_str(), rtt);
    } else if (g.json) {
      std::printf("%s\n", json{{"seq", seq}, {"peer", name}, {"timeout", true}, {"path", path}}.dump().c_str());
    } else {
      std::printf("no answer from %s (%s) within %.1f s (path %s)\n", name.c_str(), ip->str().c_str(), o.timeout_s,
                  path.c_str());
    }
    std::fflush(stdout);
    if (o.until_direct && direct) break;
  }
  close(fd);
  if (o.until_direct && !direct) {
    std::fprintf(stderr, "ovl: %s did not become reachable directly\n", name.c_str());
    return kExitFailure;
  }
  return answered ? kExitOk : kExitFailure;
}

int cmd_netcheck(const GlobalOptions& g) {
  json r;
  if (!api_request(g.state_dir, {{"cmd", "netcheck"}}, r)) return kExitFailure;
  if (g.json) {
    std::printf("%s\n", r.dump(2).c_str());
    return kExitOk;
  }
  auto str = [](const json& v) { return v.is_null() ? std::string("-") : v.is_string() ? v.get<std::string>() : v.dump(); };
  std::printf("control link:       %s\n", str(r["control"]).c_str());
  std::printf("UDP:                %s\n", r["udp"].is_null() ? "not checked (this host runs the coordinator)"
                                          : r["udp"].get<bool>() ? "yes" : "no answer from the coordinator's STUN");
  std::printf("public address:     %s\n", str(r["public_address"]).c_str());
  std::printf("NAT mapping:        %s\n", str(r["mapping"]).c_str());
  if (r["coordinator_rtt_ms"].is_number())
    std::printf("coordinator RTT:    %.2f ms\n", r["coordinator_rtt_ms"].get<double>());
  for (auto& rl : r["relays"]) {
    std::string rtt = rl.contains("rtt_ms") && rl["rtt_ms"].is_number()
                          ? " (RTT " + std::to_string(rl["rtt_ms"].get<double>()).substr(0, 6) + " ms)"
                          : "";
    std::printf("relay %s: %s%s%s%s\n", str(rl["endpoint"]).c_str(),
                !rl["ready"].get<bool>() ? "not ready" : rl.value("preferred", false) ? "ready, preferred" : "ready",
                rtt.c_str(),
                rl["problem"].get<std::string>().empty() ? "" : " - ", rl["problem"].get<std::string>().c_str());
  }
  std::string lan;
  for (auto& e : r["lan_candidates"]) lan += (lan.empty() ? "" : ", ") + e.get<std::string>();
  std::printf("LAN candidates:     %s\n", lan.empty() ? "-" : lan.c_str());
  return kExitOk;
}

}  // namespace ovl::cli
