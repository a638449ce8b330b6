#include "tun/forwarding.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "engine/log.hpp"

extern char** environ;

namespace ovl::tun {

namespace {

// Per network namespace: /proc/sys/net is the namespace of the process that
// opens it, so this never touches the host's setting from inside a netns.
const char* kIpForward = "/proc/sys/net/ipv4/ip_forward";

std::optional<std::string> read_sysctl(const char* path) {
  std::ifstream f(path);
  std::string v;
  if (!(f >> v)) return std::nullopt;
  return v;
}

bool write_sysctl(const char* path, const std::string& v) {
  std::ofstream f(path);
  f << v << "\n";
  f.flush();
  return static_cast<bool>(f);
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

std::string forwarding_ruleset(const net::Prefix& overlay, const std::string& tun_name,
                               const std::vector<net::Prefix>& approved) {
  bool exit = false;
  std::string set;
  for (auto& p : approved) {
    if (p.addr.v6) continue;
    if (p.len == 0) exit = true;
    set += (set.empty() ? "" : ", ") + p.masked().str();
  }
  const std::string dev = "\"" + tun_name + "\"";
  std::string s;
  // Declaring then deleting the table makes the delete succeed whether or not
  // it exists; the three steps are one transaction, so there is no moment
  // without rules.
  s += "table ip " + std::string(kNftTable) + "\n";
  s += "delete table ip " + std::string(kNftTable) + "\n";
  s += "table ip " + std::string(kNftTable) + " {\n";
  s += "  chain forward {\n";
  s += "    type filter hook forward priority filter; policy accept;\n";
  s += "    oifname " + dev + " tcp flags syn / syn,rst tcp option maxseg size set rt mtu\n";
  if (!exit) {
    if (set.empty()) s += "    iifname " + dev + " drop\n";
    else s += "    iifname " + dev + " ip daddr != { " + set + " } drop\n";
  }
  s += "  }\n";
  s += "  chain postrouting {\n";
  s += "    type nat hook postrouting priority srcnat; policy accept;\n";
  s += "    ip saddr " + overlay.masked().str() + " oifname != " + dev + " masquerade\n";
  s += "  }\n";
  s += "}\n";
  return s;
}

int run_nft(const std::vector<std::string>& args, const std::string& script, std::string& err) {
  int in[2] = {-1, -1}, errp[2] = {-1, -1};
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(errp, O_CLOEXEC) != 0) {
    close_fd(in[0]), close_fd(in[1]);
    err = std::string("pipe: ") + std::strerror(errno);
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> full{"nft"};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, "nft", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close_fd(in[0]);
  close_fd(errp[1]);
  if (rc != 0) {
    close_fd(in[1]);
    close_fd(errp[0]);
    err = rc == ENOENT ? "the nft command was not found (install the nftables package)"
                       : std::string("cannot run nft: ") + std::strerror(rc);
    return rc == ENOENT ? 127 : -1;
  }
  // The script is small (well under a pipe's buffer), so writing it all
  // before reading stderr cannot deadlock.
  size_t off = 0;
  while (off < script.size()) {
    ssize_t n = ::write(in[1], script.data() + off, script.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  close_fd(in[1]);
  err.clear();
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(errp[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (err.size() < 4096) err.append(buf, static_cast<size_t>(n));
  }
  close_fd(errp[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  if (WIFEXITED(status)) return WEXITSTATUS(status) == 127 ? 126 : WEXITSTATUS(status);
  return -1;
}

Forwarding::~Forwarding() { disable(); }

void Forwarding::apply(const net::Prefix& overlay, const std::string& tun_name,
                       const std::vector<net::Prefix>& approved) {
  std::string script = forwarding_ruleset(overlay, tun_name, approved);
  if (script == applied_) return;
  std::string err;
  int rc = run_nft({"-f", "-"}, script, err);
  if (rc == 127) throw std::runtime_error("cannot forward for subnet routes: " + err);
  if (rc != 0)
    throw std::runtime_error("cannot forward for subnet routes: nft refused table ip " + std::string(kNftTable) +
                             (err.empty() ? std::string() : ": " + err));
  applied_ = std::move(script);
  auto cur = read_sysctl(kIpForward);
  if (cur && *cur != "1") {
    if (!write_sysctl(kIpForward, "1")) {
      disable();
      throw std::runtime_error(std::string("cannot turn on IPv4 forwarding (") + kIpForward + ")");
    }
    if (!old_ip_forward_) old_ip_forward_ = *cur;
    log::info("IPv4 forwarding turned on in this network namespace");
  }
}

void Forwarding::disable() noexcept {
  if (!applied_.empty()) {
    std::string err;
    if (run_nft({"delete", "table", "ip", kNftTable}, "", err) != 0)
      log::warn("could not delete nft table ip %s: %s", kNftTable, err.c_str());
    applied_.clear();
  }
  if (old_ip_forward_) {
    if (!write_sysctl(kIpForward, *old_ip_forward_)) log::warn("could not restore %s", kIpForward);
    old_ip_forward_.reset();
  }
}

void Forwarding::remove_stale() noexcept {
  std::string err;
  int rc = run_nft({"list", "table", "ip", kNftTable}, "", err);
  if (rc != 0) return;  // no such table, or no nft at all
  log::info("removing nft table ip %s left by an earlier run", kNftTable);
  run_nft({"delete", "table", "ip", kNftTable}, "", err);
}

}  // namespace ovl::tun
