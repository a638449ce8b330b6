// How a node points the host's resolver at the overlay's DNS responder, as
// pure functions: the marked block ovl keeps in /etc/resolv.conf, and the
// choice between that, systemd-resolved and nothing. Reading and writing the
// file, and running resolvectl, is engine/io/os_dns's job.
//
// The block (resolv.conf mode) goes at the top of the file:
//
//   # ovl begin: peer names of NETWORK.ovl; ovl removes this block when it stops
//   nameserver 100.100.100.100
//   search NETWORK.ovl lan.example        <- our domain, then the file's own
//   # ovl end
//   # ovl hid: search lan.example         <- the file's search/domain lines,
//   nameserver 192.168.1.1                   commented out (glibc keeps only the
//   ...                                      last one, which would drop ours)
//
// The rest of the file is kept byte for byte, except that every line that
// starts with the keyword "search" or "domain" gets the prefix "# ovl hid: ".
// remove_block() undoes exactly that, so remove_block(add_block(x)) == x for
// any x that held no block (the unit tests and the fuzz target check it).
//
// Why our nameserver first and what happens to other names: glibc asks the
// nameservers in file order and moves to the next one when an answer is
// REFUSED (resolv/res_send.c: SERVFAIL, NOTIMP and REFUSED mean "next
// server"; NXDOMAIN does not). The node's responder answers names in
// NETWORK.ovl (and short peer names) and REFUSES everything else at once, so
// the host's other names go on to its own nameservers, costing one round trip
// over the local TUN device. glibc reads at most 3 nameservers (MAXNS): a
// file that already lists 3 loses its last one while ovl runs.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ovl::dns {

inline constexpr std::string_view kBlockBegin = "# ovl begin";
inline constexpr std::string_view kBlockEnd = "# ovl end";
inline constexpr std::string_view kHiddenPrefix = "# ovl hid: ";
inline constexpr size_t kGlibcMaxNameservers = 3;  // MAXNS in <resolv.h>

// What glibc would take from a resolv.conf (nameserver, search and domain
// lines; keyword at the start of the line, then a space or tab).
struct ResolvConfView {
  std::vector<std::string> nameservers;  // in order
  std::vector<std::string> search;       // from the last search/domain line
};
ResolvConfView read_resolv_conf(std::string_view text);

// True if `text` holds an ovl begin marker (a block, possibly stale).
bool has_block(std::string_view text);

// `text` without any ovl block and with hidden lines restored. A begin marker
// without an end marker (a truncated write) removes only the marker line:
// lines ovl cannot prove are its own are never deleted.
std::string remove_block(std::string_view text);

// `text` with one fresh block for `nameserver` and `domain` (any old block is
// removed first, so this also repairs what a crash left behind).
std::string add_block(std::string_view text, std::string_view nameserver, std::string_view domain);

// How ovl configures the host's resolver.
enum class DnsMode { automatic, resolv_conf, resolved, off };
std::optional<DnsMode> parse_dns_mode(std::string_view s);  // "auto", "resolv.conf", "resolved", "off"
const char* dns_mode_name(DnsMode m);

// What the node found out about the host (engine/io/os_dns probes it).
struct DnsHostFacts {
  // This process shares the network namespace of PID 1. systemd-resolved
  // manages the links of its own namespace only, and a process in another
  // one is a test or a container that must leave the host's resolver alone.
  bool init_netns = false;
  // Outside the host's namespace: /etc/resolv.conf as this process sees it
  // may be the host's own file. In a namespace NS made by `ip netns add`,
  // true unless it is /etc/netns/NS/resolv.conf (which `ip netns exec`
  // bind-mounts when it exists); elsewhere, unless it differs from the file
  // PID 1 sees. True whenever that cannot be checked.
  bool shares_host_resolv_conf = true;
  bool resolved_running = false;     // its varlink socket exists
  bool resolvectl_found = false;     // in PATH
  bool resolv_conf_is_resolved = false;  // points at 127.0.0.53 or into /run/systemd/resolve
};

enum class DnsMethod { none, resolv_conf, resolved };
struct DnsChoice {
  DnsMethod method = DnsMethod::none;
  std::string note;  // why (for the log); for `none` under auto, what was missing
};
// "resolv.conf", "resolved" or "off" (none), as `ovl status` shows it.
const char* dns_method_name(DnsMethod m);
// An explicit mode that cannot be used safely is an error (a sentence for
// the user); auto falls back: resolved when it runs and owns resolv.conf,
// else the file when it is ours to edit, else nothing.
std::variant<DnsChoice, std::string> choose_dns_method(DnsMode mode, const DnsHostFacts& f);

}  // namespace ovl::dns
