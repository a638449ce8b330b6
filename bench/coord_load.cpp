// ovl-coord-bench: how the coordinator holds up under N nodes.
//
//   ovl-coord-bench [--nodes 1000,10000] [--ovl build/ovl] [--window 128]
//                   [--timeout 600] [--check] [--json]
//
// For each N: starts `ovl coordinator` (the product binary) with a temporary
// state dir on a free loopback port, creates a reusable invite through its
// local API, enrolls N simulated nodes over real control links (coord_sim.hpp)
// and keeps them connected; then makes four changes one after the other — a
// new node joins, a node is renamed, a node is removed, a policy is added —
// and times how long each takes to reach every connected node. Prints one table: enrollments per
// second, each change's propagation p50/max, the coordinator's RSS (now and
// peak) and CPU time from /proc/PID.
//
// Bounded: everything stops by itself at --timeout (default 600 s), the
// simulated nodes only ever connect to 127.0.0.1, and the coordinator and its
// state dir are removed at the end (also on Ctrl-C). With --check the exit
// status says whether every connected node received every change (the CI
// smoke run); timings are never pass/fail.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "coord_sim.hpp"
#include "engine/control/token.hpp"

using namespace ovl;
using json = nlohmann::json;

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
bool interrupted() { return g_interrupted != 0; }

struct Options {
  std::vector<size_t> sizes{1000, 10000};
  std::string ovl = "build/ovl";
  size_t window = 128;
  int timeout_s = 600;
  bool check = false, json_out = false;
};

// join, rename, remove, policy
constexpr size_t kChanges = 4;

struct Change {
  std::string what;
  size_t expected = 0, got = 0;
  double p50_ms = 0, max_ms = 0;
  double cpu_ms = 0;  // coordinator CPU from the change until the last node had it
};

struct Result {
  size_t n = 0, enrolled = 0, failed = 0;
  double enroll_s = 0, enroll_per_s = 0, enroll_cpu_s = 0;
  double tool_cpu_s = 0;  // this process during enrollment: the simulated nodes' share of the machine
  std::vector<Change> changes;
  double rss_mb = 0, peak_mb = 0, cpu_total_s = 0;
  std::string error;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "ovl-coord-bench: %s\n", why.c_str());
  std::fprintf(stderr,
               "usage: ovl-coord-bench [--nodes N[,N...]] [--ovl PATH] [--window W] [--timeout SECONDS] [--check] "
               "[--json]\n");
  std::exit(2);
}

size_t parse_count(const std::string& s, size_t lo, size_t hi, const char* what) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end || errno || v < lo || v > hi)
    usage(std::string(what) + " must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
  return static_cast<size_t>(v);
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--nodes") {
      o.sizes.clear();
      std::stringstream ss(value());
      for (std::string part; std::getline(ss, part, ',');) o.sizes.push_back(parse_count(part, 1, 50000, "--nodes"));
      if (o.sizes.empty()) usage("--nodes needs at least one count");
    } else if (a == "--ovl") {
      o.ovl = value();
    } else if (a == "--window") {
      o.window = parse_count(value(), 1, 500, "--window");  // below the coordinator's pre-auth cap of 512
    } else if (a == "--timeout") {
      o.timeout_s = static_cast<int>(parse_count(value(), 5, 3600, "--timeout"));
    } else if (a == "--check") {
      o.check = true;
    } else if (a == "--json") {
      o.json_out = true;
    } else if (a == "-h" || a == "--help") {
      std::printf("ovl-coord-bench [--nodes 1000,10000] [--ovl build/ovl] [--window 128] [--timeout 600] [--check] "
                  "[--json]\n");
      std::exit(0);
    } else {
      usage("unknown argument \"" + a + "\"");
    }
  }
  if (::access(o.ovl.c_str(), X_OK) != 0) usage("no ovl binary at " + o.ovl + " (use --ovl PATH)");
  return o;
}

// 10,000 links need 10,000 descriptors here and as many in the coordinator
// (which inherits this limit).
void raise_fd_limit(size_t n) {
  rlim_t want = static_cast<rlim_t>(n) + 1024;
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur >= want) return;
  rlimit nl{want, std::max(rl.rlim_max, want)};
  if (::setrlimit(RLIMIT_NOFILE, &nl) != 0) {
    std::fprintf(stderr,
                 "ovl-coord-bench: %zu nodes need %llu open files, but the limit is %llu (hard %llu) and cannot be "
                 "raised (%s): run as root or raise `ulimit -Hn`\n",
                 n, static_cast<unsigned long long>(want), static_cast<unsigned long long>(rl.rlim_cur),
                 static_cast<unsigned long long>(rl.rlim_max), std::strerror(errno));
    std::exit(2);
  }
}

uint16_t free_port() {
  // A TCP port with the three UDP ports above it (STUN, relay) likely free.
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    ::close(fd);
    uint16_t p = ntohs(sa.sin_port);
    if (p > 1024 && p < 65000) return p;
  }
  throw std::runtime_error("no free TCP port on loopback");
}

// ---- the coordinator process ----

struct Coordinator {
  pid_t pid = -1;
  int out_fd = -1;
  std::string dir, log;
  uint16_t port = 0;

  ~Coordinator() { stop(); }
  void stop() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      for (int i = 0; i < 100; ++i) {  // 10 s, then it is killed
        if (::waitpid(pid, nullptr, WNOHANG) == pid) {
          pid = -1;
          break;
        }
        ::usleep(100000);
      }
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        pid = -1;
      }
    }
    if (out_fd >= 0) ::close(out_fd);
    out_fd = -1;
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      dir.clear();
    }
  }
};

void start_coordinator(Coordinator& c, const Options& o) {
  char tmpl[] = "/tmp/ovl-coord-bench.XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  c.dir = tmpl;
  c.log = c.dir + "/coordinator.log";
  std::ofstream(c.dir + "/empty.toml");  // no /etc/ovl/ovl.toml of this host
  c.port = free_port();
  std::string port = std::to_string(c.port);
  std::vector<std::string> args{o.ovl, "--state-dir", c.dir, "--config", c.dir + "/empty.toml", "--json",
                                "coordinator", "--network", "bench", "--cidr", "100.64.0.0/16",
                                "--listen-port", port, "--advertise-endpoint", "127.0.0.1:" + port};
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the tool
    ::dup2(pipefd[1], 1);
    int logfd = ::open(c.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (logfd >= 0) ::dup2(logfd, 2);
    std::vector<char*> av;
    for (auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    ::execv(av[0], av.data());
    _exit(127);
  }
  ::close(pipefd[1]);
  c.pid = pid;
  c.out_fd = pipefd[0];
  // The first line of stdout is the new network's JSON: the coordinator is up.
  std::string line;
  int64_t deadline = bench::mono_ns() + 30'000'000'000LL;
  while (line.find('\n') == std::string::npos) {
    pollfd p{c.out_fd, POLLIN, 0};
    if (bench::mono_ns() > deadline || interrupted()) throw std::runtime_error("the coordinator did not start; see " + c.log);
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(c.out_fd, buf, sizeof buf);
    if (n <= 0) {
      std::ifstream lf(c.log);
      std::stringstream ss;
      ss << lf.rdbuf();
      throw std::runtime_error("the coordinator exited at start: " + ss.str());
    }
    line.append(buf, static_cast<size_t>(n));
  }
}

// One request on the coordinator's local API (a JSON line each way).
json api(const Coordinator& c, const json& req) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string path = c.dir + "/ovl.sock";
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot reach the coordinator's API at " + path);
  }
  timeval tv{60, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string s = req.dump() + "\n";
  if (::write(fd, s.data(), s.size()) != static_cast<ssize_t>(s.size())) {
    ::close(fd);
    throw std::runtime_error("API write failed");
  }
  std::string resp;
  char buf[4096];
  ssize_t n;
  while (resp.find('\n') == std::string::npos && (n = ::read(fd, buf, sizeof buf)) > 0)
    resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  auto j = json::parse(resp, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error("the API gave no answer to " + req.dump());
  if (j.contains("error")) throw std::runtime_error("API " + req.dump() + ": " + j["error"].get<std::string>());
  return j;
}

// ---- /proc ----

struct ProcStat {
  double rss_mb = 0, peak_mb = 0, cpu_s = 0;
};

double self_cpu_s() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

ProcStat proc_stat(pid_t pid) {
  ProcStat r;
  std::ifstream st("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(st, line);) {
    if (line.rfind("VmRSS:", 0) == 0) r.rss_mb = std::stod(line.substr(6)) / 1024.0;
    if (line.rfind("VmHWM:", 0) == 0) r.peak_mb = std::stod(line.substr(6)) / 1024.0;
  }
  std::ifstream sf("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(sf)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  if (close != std::string::npos) {
    std::stringstream ss(all.substr(close + 2));
    std::vector<std::string> f;
    for (std::string x; ss >> x;) f.push_back(x);
    // After "pid (comm) ": state is field 3, utime 14 and stime 15.
    if (f.size() > 12) r.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  return r;
}

// ---- one run ----

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Starts a change with `trigger`, then waits until every linked node other
// than `exempt` holds a delta containing `marker` (empty: a delta carrying
// the node's own new filter).
Change measure(const Coordinator& c, bench::SimFleet& fleet, const std::string& what, const std::string& marker,
               size_t exempt, const std::function<void()>& trigger, int64_t deadline) {
  Change ch;
  ch.what = what;
  std::vector<size_t> who;
  for (size_t i = 0; i < fleet.nodes.size(); ++i)
    if (i != exempt && fleet.nodes[i]->mapped && !fleet.nodes[i]->closed) who.push_back(i);
  ch.expected = who.size();
  if (marker.empty())
    fleet.watch_filter();
  else
    fleet.watch(marker);
  double cpu0 = proc_stat(c.pid).cpu_s;
  int64_t t0 = bench::mono_ns();
  trigger();
  int64_t limit = std::min<int64_t>(deadline, bench::mono_ns() + 60'000'000'000LL);
  fleet.run_until(
      [&] {
        for (size_t i : who)
          if (!fleet.nodes[i]->mark_ns && !fleet.nodes[i]->closed) return false;
        return true;
      },
      limit, interrupted);
  ch.cpu_ms = (proc_stat(c.pid).cpu_s - cpu0) * 1000.0;
  std::vector<double> ms;
  for (size_t i : who)
    if (auto t = fleet.nodes[i]->mark_ns) ms.push_back(static_cast<double>(t - t0) / 1e6);
  ch.got = ms.size();
  ch.p50_ms = percentile(ms, 0.5);
  ch.max_ms = ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end());
  fleet.settle(200, limit, interrupted);
  return ch;
}

Result run(const Options& o, size_t n) {
  Result r;
  r.n = n;
  int64_t deadline = bench::mono_ns() + int64_t(o.timeout_s) * 1'000'000'000LL;
  Coordinator c;
  start_coordinator(c, o);
  auto inv = api(c, {{"cmd", "invite.create"}, {"reusable", true}, {"expires_s", 3600}});
  auto tok = control::decode_token(inv["token"].get<std::string>());
  if (!std::holds_alternative<control::Token>(tok)) throw std::runtime_error("the API gave a bad token");
  auto& t = std::get<control::Token>(tok);
  bench::SimFleet fleet(c.port, t.coordinator_key, control::hex(t.invite_id), crypto::to_base64url(t.secret));

  double cpu0 = proc_stat(c.pid).cpu_s, self0 = self_cpu_s();
  int64_t t0 = bench::mono_ns();
  bool ok = fleet.enroll(n, o.window, deadline, interrupted);
  r.enroll_s = static_cast<double>(bench::mono_ns() - t0) / 1e9;
  r.enroll_cpu_s = proc_stat(c.pid).cpu_s - cpu0;
  r.tool_cpu_s = self_cpu_s() - self0;
  r.enrolled = fleet.enrolled;
  r.failed = fleet.failed;
  r.enroll_per_s = r.enroll_s > 0 ? static_cast<double>(fleet.enrolled) / r.enroll_s : 0;
  if (!ok) r.error = interrupted() ? "interrupted" : "enrollment did not finish before the timeout";
  if (ok && !fleet.settle(300, deadline, interrupted)) r.error = "the map did not settle before the timeout";

  if (r.error.empty() && fleet.enrolled > 0) {
    // 1. A node joins: everyone must learn of it (its name is the marker).
    size_t probe = fleet.nodes.size();
    r.changes.push_back(measure(
        c, fleet, "join", "\"probe-join\"", probe, [&] { fleet.add("probe-join"); }, deadline));
    // 2. A node is renamed; 3. it is removed (its own link closes, so it is exempt).
    size_t victim = 0;
    std::string victim_name = fleet.nodes[victim]->name;
    r.changes.push_back(measure(
        c, fleet, "rename", "\"renamed-0\"", SIZE_MAX,
        [&] { api(c, {{"cmd", "rename"}, {"node", victim_name}, {"name", "renamed-0"}}); }, deadline));
    std::string key = crypto::to_base64(fleet.nodes[victim]->pub);
    r.changes.push_back(measure(
        c, fleet, "remove", "\"" + key + "\"", victim, [&] { api(c, {{"cmd", "remove"}, {"node", "renamed-0"}}); },
        deadline));
    // 4. A policy that names every node on both sides: each node's filter
    // changes, so each linked node must get a delta with its own "filter".
    r.changes.push_back(measure(
        c, fleet, "policy", "", SIZE_MAX,
        [&] {
          api(c, {{"cmd", "policy.add"}, {"name", "bench"}, {"from", "*"}, {"to", "*"}, {"proto", "tcp"},
                  {"ports", "22"}});
        },
        deadline));
  }
  auto ps = proc_stat(c.pid);
  r.rss_mb = ps.rss_mb;
  r.peak_mb = ps.peak_mb;
  r.cpu_total_s = ps.cpu_s;
  if (r.error.empty() && r.failed) {
    // Say why, grouped: "3 x the coordinator closed the link".
    std::map<std::string, size_t> why;
    for (auto& s : fleet.nodes)
      if (!s->mapped && s->closed) ++why[s->error.substr(0, 120)];
    r.error = std::to_string(r.failed) + " enrollments failed:";
    for (auto& [w, k] : why) r.error += " " + std::to_string(k) + " x " + w + ";";
  }
  // Stop the coordinator before the links close, so it is not timed
  // broadcasting N departures to a fleet that is going away.
  c.stop();
  return r;
}

void print_table(const std::vector<Result>& rs) {
  std::printf("\ncoordinator scale (ovl coordinator on loopback, simulated nodes over real control links)\n");
  std::printf("%7s %9s %8s %8s %8s | %-28s | %-28s | %-28s | %-28s | %7s %7s %7s\n", "N", "enroll/s", "enroll s",
              "CPU s", "tool s", "join p50/max ms", "rename p50/max ms", "remove p50/max ms", "policy p50/max ms",
              "RSS MB", "peak MB", "CPU s");
  for (auto& r : rs) {
    std::printf("%7zu %9.0f %8.1f %8.1f %8.1f", r.n, r.enroll_per_s, r.enroll_s, r.enroll_cpu_s, r.tool_cpu_s);
    for (size_t k = 0; k < kChanges; ++k) {
      if (k < r.changes.size()) {
        auto& c = r.changes[k];
        char cell[64];
        std::snprintf(cell, sizeof cell, "%.1f / %.1f (%zu/%zu)", c.p50_ms, c.max_ms, c.got, c.expected);
        std::printf(" | %-28s", cell);
      } else {
        std::printf(" | %-28s", "n/a");
      }
    }
    std::printf(" | %7.1f %7.1f %7.1f\n", r.rss_mb, r.peak_mb, r.cpu_total_s);
    if (!r.error.empty()) std::printf("        N=%zu: %s\n", r.n, r.error.c_str());
  }
  std::printf("CPU s = the coordinator's CPU time during enrollment (tool s: this tool's, the simulated nodes');\n"
              "the last column is the coordinator's total. Propagation counts from just before the change.\n");
  for (auto& r : rs) {
    std::printf("RESULT n=%zu enrolled=%zu enroll_per_s=%.0f", r.n, r.enrolled, r.enroll_per_s);
    for (auto& c : r.changes)
      std::printf(" %s_p50_ms=%.1f %s_max_ms=%.1f %s_reached=%zu/%zu %s_cpu_ms=%.0f", c.what.c_str(), c.p50_ms,
                  c.what.c_str(), c.max_ms, c.what.c_str(), c.got, c.expected, c.what.c_str(), c.cpu_ms);
    std::printf(" rss_mb=%.1f peak_mb=%.1f cpu_s=%.1f\n", r.rss_mb, r.peak_mb, r.cpu_total_s);
  }
}

json to_json(const Result& r) {
  json j{{"n", r.n}, {"enrolled", r.enrolled}, {"failed", r.failed}, {"enroll_s", r.enroll_s},
         {"enroll_per_s", r.enroll_per_s}, {"enroll_cpu_s", r.enroll_cpu_s}, {"tool_cpu_s", r.tool_cpu_s},
         {"rss_mb", r.rss_mb},
         {"peak_mb", r.peak_mb}, {"cpu_s", r.cpu_total_s}, {"error", r.error}};
  for (auto& c : r.changes)
    j["changes"].push_back({{"what", c.what}, {"p50_ms", c.p50_ms}, {"max_ms", c.max_ms}, {"reached", c.got},
                            {"expected", c.expected}, {"cpu_ms", c.cpu_ms}});
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_args(argc, argv);
  raise_fd_limit(*std::max_element(o.sizes.begin(), o.sizes.end()));
  std::signal(SIGINT, [](int) { g_interrupted = 1; });
  std::signal(SIGTERM, [](int) { g_interrupted = 1; });
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<Result> results;
  bool all_reached = true;
  for (size_t n : o.sizes) {
    if (interrupted()) break;
    if (!o.json_out) std::fprintf(stderr, "N=%zu: enrolling...\n", n);
    try {
      results.push_back(run(o, n));
    } catch (const std::exception& e) {
      Result r;
      r.n = n;
      r.error = e.what();
      results.push_back(r);
    }
    auto& r = results.back();
    all_reached = all_reached && r.error.empty() && r.changes.size() == kChanges && r.enrolled == n;
    for (auto& c : r.changes) all_reached = all_reached && c.got == c.expected && c.expected > 0;
  }
  if (o.json_out) {
    json a = json::array();
    for (auto& r : results) a.push_back(to_json(r));
    std::printf("%s\n", a.dump().c_str());
  } else {
    print_table(results);
  }
  if (interrupted()) return 130;
  if (o.check && !all_reached) {
    std::fprintf(stderr, "ovl-coord-bench: not every node received every change (see the table)\n");
    return 1;
  }
  return 0;
}
