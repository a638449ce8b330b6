#include "tun/forwarding.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "engine/log.hpp"

extern char** environ;

namespace ovl::tun {

namespace {

// The forwarding sysctls are per network namespace: /proc/sys/net is the
// namespace of the process that opens it, so this never touches the host's
// setting from inside a netns.

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

namespace {

// One family's rules: what it forwards from the overlay, what it masquerades.
struct FamilyRules {
  const char* nft;    // "ip" or "ip6"
  const char* proto;  // for `meta nfproto`
  bool exit = false;
  std::string set;
  std::string overlay;  // "" = the network has no range of this family
};

}  // namespace

std::string forwarding_ruleset(const std::vector<net::Prefix>& overlay, const std::string& tun_name,
                               const std::vector<net::Prefix>& approved) {
  FamilyRules fam[2] = {{"ip", "ipv4"}, {"ip6", "ipv6"}};
  for (auto& p : approved) {
    auto& f = fam[p.addr.v6];
    if (p.len == 0) f.exit = true;
    f.set += (f.set.empty() ? "" : ", ") + p.masked().str();
  }
  for (auto& p : overlay) fam[p.addr.v6].overlay = p.masked().str();
  const std::string dev = "\"" + tun_name + "\"";
  const std::string table = std::string("inet ") + kNftTable;
  std::string s;
  // Declaring then deleting the table makes the delete succeed whether or not
  // it exists; the three steps are one transaction, so there is no moment
  // without rules.
  s += "table " + table + "\n";
  s += "delete table " + table + "\n";
  s += "table " + table + " {\n";
  s += "  chain forward {\n";
  s += "    type filter hook forward priority filter; policy accept;\n";
  s += "    oifname " + dev + " tcp flags syn / syn,rst tcp option maxseg size set rt mtu\n";
  for (auto& f : fam) {
    if (f.exit) continue;
    if (f.set.empty()) s += "    iifname " + dev + " meta nfproto " + f.proto + " drop\n";
    else s += "    iifname " + dev + " " + f.nft + " daddr != { " + f.set + " } drop\n";
  }
  s += "  }\n";
  s += "  chain postrouting {\n";
  s += "    type nat hook postrouting priority srcnat; policy accept;\n";
  for (auto& f : fam)
    if (!f.overlay.empty()) s += "    " + std::string(f.nft) + " saddr " + f.overlay + " oifname != " + dev + " masquerade\n";
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

void Forwarding::apply(const std::vector<net::Prefix>& overlay, const std::string& tun_name,
                       const std::vector<net::Prefix>& approved) {
  std::string script = forwarding_ruleset(overlay, tun_name, approved);
  if (script == applied_) return;
  std::string err;
  int rc = run_nft({"-f", "-"}, script, err);
  if (rc == 127) throw std::runtime_error("cannot forward for subnet routes: " + err);
  if (rc != 0)
    throw std::runtime_error("cannot forward for subnet routes: nft refused table inet " + std::string(kNftTable) +
                             (err.empty() ? std::string() : ": " + err));
  applied_ = std::move(script);
  tun_name_ = tun_name;
  try {
    turn_on(ip_forward_);
    // IPv6 forwarding only when an IPv6 route is approved: it changes how
    // the host treats router advertisements (see below).
    if (std::any_of(approved.begin(), approved.end(), [](auto& p) { return p.addr.v6; })) turn_on(ip6_forward_);
    else restore(ip6_forward_);
  } catch (...) {
    disable();
    throw;
  }
}

void Forwarding::turn_on(Sysctl& s) {
  auto cur = read_sysctl(s.path);
  if (!cur || *cur == "1") return;  // absent: the family is off in this kernel
  if (!write_sysctl(s.path, "1")) throw std::runtime_error(std::string("cannot turn on ") + s.what + " (" + s.path + ")");
  if (!s.old) s.old = *cur;
  log::info("%s turned on in this network namespace", s.what);
  if (&s != &ip6_forward_) return;
  // With forwarding on, an interface whose accept_ra is 1 ignores router
  // advertisements, so the host's own IPv6 default route (learned from
  // them) would expire; 2 keeps accepting them.
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string ra;
  for (auto& e : fs::directory_iterator("/proc/sys/net/ipv6/conf", ec)) {
    auto name = e.path().filename().string();
    if (name == "all" || name == "default" || name == "lo" || name == tun_name_) continue;
    if (read_sysctl((e.path() / "accept_ra").c_str()).value_or("") == "1") ra += (ra.empty() ? "" : ", ") + name;
  }
  if (!ra.empty())
    log::warn("IPv6 forwarding is on: %s stop accepting router advertisements (accept_ra=1); set accept_ra=2 if "
              "this host learns its IPv6 default route from them",
              ra.c_str());
}

void Forwarding::restore(Sysctl& s) noexcept {
  if (!s.old) return;
  if (!write_sysctl(s.path, *s.old)) log::warn("could not restore %s", s.path);
  s.old.reset();
}

void Forwarding::disable() noexcept {
  if (!applied_.empty()) {
    std::string err;
    if (run_nft({"delete", "table", "inet", kNftTable}, "", err) != 0)
      log::warn("could not delete nft table inet %s: %s", kNftTable, err.c_str());
    applied_.clear();
  }
  restore(ip_forward_);
  restore(ip6_forward_);
}

void Forwarding::remove_stale() noexcept {
  for (const char* family : {"inet", "ip"}) {
    std::string err;
    if (run_nft({"list", "table", family, kNftTable}, "", err) != 0) continue;  // no such table, or no nft at all
    log::info("removing nft table %s %s left by an earlier run", family, kNftTable);
    run_nft({"delete", "table", family, kNftTable}, "", err);
  }
}

}  // namespace ovl::tun
