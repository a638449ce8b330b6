#include "engine/io/os_dns.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "engine/log.hpp"
#include "tun/netlink.hpp"

extern char** environ;

namespace ovl::io {

namespace {

constexpr const char* kResolvedSocket = "/run/systemd/resolve/io.systemd.Resolve";
constexpr int kResolvectlTimeoutMs = 5000;
// Metric of the unreachable route to the resolver address: above the TUN
// device's own route (metric 0), so it only matters once that is gone.
constexpr uint32_t kFallbackMetric = 4242;

// While the block names 100.100.100.100, an `unreachable` route to it makes
// a query there fail at once when the node is not running (after a crash,
// before the next start repairs the file): glibc then moves straight to the
// next nameserver instead of sending the query down the default route and
// waiting out its timeout (5 s by default) for every lookup.
void fallback_route(bool add, const std::string& nameserver) {
  auto ip = net::IpAddr::parse(nameserver);
  if (!ip) return;
  try {
    tun::Netlink nl;
    net::Prefix p{*ip, static_cast<uint8_t>(ip->v6 ? 128 : 32)};
    if (add) nl.add_unreachable_route(p, kFallbackMetric);
    else nl.del_unreachable_route(p, kFallbackMetric);
  } catch (const std::exception& e) {
    log::warn("DNS: %s", e.what());
  }
}

bool same_file(const char* a, const char* b) {
  struct stat sa{}, sb{};
  if (::stat(a, &sa) != 0 || ::stat(b, &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool in_path(const char* prog) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t colon = p.find(':', start);
    std::string dir = p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty() && ::access((dir + "/" + prog).c_str(), X_OK) == 0) return true;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return false;
}

std::optional<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1u << 20)) break;  // no resolv.conf is a megabyte; stop reading
  }
  ::close(fd);
  return out;
}

// Rewrites the file's bytes in place (same inode, see the header): write
// from offset 0, then cut to the new length.
bool write_in_place(const std::string& path, const std::string& content, std::string& err) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    err = std::strerror(errno);
    return false;
  }
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::pwrite(fd, content.data() + off, content.size() - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = std::strerror(errno);
      ::close(fd);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  bool ok = ::ftruncate(fd, static_cast<off_t>(content.size())) == 0;
  if (!ok) err = std::strerror(errno);
  ::fsync(fd);
  ::close(fd);
  return ok;
}

// Runs resolvectl with `args` (no shell), bounded in time.
bool resolvectl(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::string prog = "resolvectl";
  argv.push_back(prog.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int e = ::posix_spawnp(&pid, "resolvectl", nullptr, nullptr, argv.data(), environ); e != 0) {
    log::warn("cannot run resolvectl: %s", std::strerror(e));
    return false;
  }
  int status = 0;
  for (int waited = 0;; waited += 20) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return false;
    if (waited >= kResolvectlTimeoutMs) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      log::warn("resolvectl %s did not finish within %d ms", args.empty() ? "" : args[0].c_str(), kResolvectlTimeoutMs);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// The name under /run/netns of the network namespace this process is in
// (how `ip netns add` names them), or "" when it is in none of those.
std::string named_netns() {
  struct stat self{};
  if (::stat("/proc/self/ns/net", &self) != 0) return {};
  DIR* d = ::opendir("/run/netns");
  if (!d) return {};
  std::string found;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st{};
    if (::stat(("/run/netns/" + name).c_str(), &st) == 0 && st.st_dev == self.st_dev && st.st_ino == self.st_ino) {
      found = name;
      break;
    }
  }
  ::closedir(d);
  return found;
}

}  // namespace

dns::DnsHostFacts probe_dns_host(const std::string& resolv_conf_path) {
  dns::DnsHostFacts f;
  if (std::string ns = named_netns(); !ns.empty()) {
    // A namespace made by `ip netns add NS`: `ip netns exec NS` bind-mounts
    // /etc/netns/NS/resolv.conf over /etc/resolv.conf when that file exists.
    // Only then is the file we see the namespace's own.
    f.init_netns = false;
    f.shares_host_resolv_conf = !same_file(resolv_conf_path.c_str(), ("/etc/netns/" + ns + "/resolv.conf").c_str());
  } else {
    // Otherwise compare with PID 1. /proc/1/root is PID 1's view of the file
    // system (its mount namespace), so a bind mount over our file shows up as
    // a different inode. Where /proc/1 cannot be read (a sandbox), nothing can
    // be ruled out: neither counts as safe.
    struct stat p1{};
    const bool p1_visible = ::stat("/proc/1/ns/net", &p1) == 0;
    f.init_netns = p1_visible && same_file("/proc/self/ns/net", "/proc/1/ns/net");
    const std::string host_file = "/proc/1/root" + resolv_conf_path;
    struct stat hf{};
    if (!f.init_netns && p1_visible && ::stat(host_file.c_str(), &hf) == 0)
      f.shares_host_resolv_conf = same_file(resolv_conf_path.c_str(), host_file.c_str());
    else
      f.shares_host_resolv_conf = true;
  }
  f.resolved_running = ::access(kResolvedSocket, F_OK) == 0;
  f.resolvectl_found = in_path("resolvectl");
  char target[512];
  ssize_t n = ::readlink(resolv_conf_path.c_str(), target, sizeof target - 1);
  if (n > 0 && std::string_view(target, static_cast<size_t>(n)).find("/run/systemd/resolve/") != std::string_view::npos)
    f.resolv_conf_is_resolved = true;
  if (auto text = read_file(resolv_conf_path))
    for (auto& ns : dns::read_resolv_conf(*text).nameservers)
      if (ns == "127.0.0.53" || ns == "127.0.0.54") f.resolv_conf_is_resolved = true;
  return f;
}

OsDns::OsDns(dns::DnsMode mode, std::string resolv_conf_path) : path_(std::move(resolv_conf_path)) {
  const auto facts = probe_dns_host(path_);
  file_ok_ = std::holds_alternative<dns::DnsChoice>(choose_dns_method(dns::DnsMode::resolv_conf, facts));
  if (mode == dns::DnsMode::off) return;
  auto choice = dns::choose_dns_method(mode, facts);
  if (auto* err = std::get_if<std::string>(&choice)) throw std::runtime_error(*err);
  auto& c = std::get<dns::DnsChoice>(choice);
  method_ = c.method;
  if (method_ == dns::DnsMethod::none) log::warn("DNS: not configuring the host's resolver: %s", c.note.c_str());
  else log::debug("DNS: %s", c.note.c_str());
}

void OsDns::repair(const std::string& nameserver) {
  // Whatever the mode now (even off), a block a crashed run left goes.
  if (!file_ok_) return;
  auto text = read_file(path_);
  if (!text || !dns::has_block(*text)) return;
  std::string err;
  if (write_in_place(path_, dns::remove_block(*text), err))
    log::info("DNS: removed the block a previous run left in %s", path_.c_str());
  else
    log::warn("DNS: cannot repair %s: %s", path_.c_str(), err.c_str());
  fallback_route(false, nameserver);
}

void OsDns::apply(const std::string& iface, const std::string& domain, const std::string& nameserver) {
  if (method_ == dns::DnsMethod::none || applied_) return;
  if (method_ == dns::DnsMethod::resolved) {
    bool ok = resolvectl({"dns", iface, nameserver}) && resolvectl({"domain", iface, "~" + domain});
    // Only names in the routing domain come to us, never the host's others
    // (older resolvectl lacks the verb; the routing domain alone implies it).
    if (ok) resolvectl({"default-route", iface, "false"});
    if (!ok) {
      log::warn("DNS: resolvectl could not configure %s; names of %s will not resolve on this host", iface.c_str(),
                domain.c_str());
      resolvectl({"revert", iface});
      return;
    }
    iface_ = iface;
    applied_ = true;
    log::info("DNS: systemd-resolved sends *.%s to %s on %s", domain.c_str(), nameserver.c_str(), iface.c_str());
    return;
  }
  auto text = read_file(path_).value_or("");
  auto view = dns::read_resolv_conf(dns::remove_block(text));
  std::string err;
  if (!write_in_place(path_, dns::add_block(text, nameserver, domain), err)) {
    log::warn("DNS: cannot write %s: %s; names of %s will not resolve on this host", path_.c_str(), err.c_str(),
              domain.c_str());
    return;
  }
  applied_ = true;
  nameserver_ = nameserver;
  fallback_route(true, nameserver);
  if (view.nameservers.size() >= dns::kGlibcMaxNameservers)
    log::warn("DNS: %s lists %zu nameservers; glibc reads only %zu, so %s is not used while ovl runs", path_.c_str(),
              view.nameservers.size(), dns::kGlibcMaxNameservers, view.nameservers.back().c_str());
  log::info("DNS: %s asks %s first (names outside %s are refused there and go on to the next nameserver)",
            path_.c_str(), nameserver.c_str(), domain.c_str());
}

void OsDns::restore() {
  if (!applied_) return;
  applied_ = false;
  if (method_ == dns::DnsMethod::resolved) {
    resolvectl({"revert", iface_});
    return;
  }
  auto text = read_file(path_);
  if (text && dns::has_block(*text)) {
    std::string err;
    if (write_in_place(path_, dns::remove_block(*text), err)) {
      log::info("DNS: restored %s", path_.c_str());
    } else {
      log::warn("DNS: cannot restore %s: %s", path_.c_str(), err.c_str());
      return;  // the block stays, and so does the route that keeps it harmless
    }
  }
  // Also when another program rewrote the file meanwhile (a DHCP client):
  // nothing names the resolver any more.
  fallback_route(false, nameserver_);
}

}  // namespace ovl::io
