#include "tun/tun_device.hpp"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>  // before any linux/if*.h: glibc and kernel headers both define ifreq
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include "engine/log.hpp"
#include "engine/net/gso.hpp"

namespace ovl::tun {

namespace {

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

// SIOCSIFMTU / SIOCSIFFLAGS need some socket to be issued on; any AF_INET
// datagram socket will do and it is only needed for a moment.
class IoctlSocket {
 public:
  IoctlSocket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw_errno(errno, "cannot open socket for interface ioctls");
  }
  ~IoctlSocket() { ::close(fd_); }
  int get() const { return fd_; }

 private:
  int fd_;
};

ifreq make_ifreq(const std::string& name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), size_t{IFNAMSIZ - 1}));
  return ifr;
}

bool is_tun_or_tap(const std::string& name) {
  struct stat st;
  return ::stat(("/sys/class/net/" + name + "/tun_flags").c_str(), &st) == 0;
}

}  // namespace

bool valid_interface_name(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '=' || c == '+' || c == '.' || c == '-';
  });
}

TunDevice::TunDevice(std::string_view name, uint32_t mtu, bool offload) : name_(name) {
  if (!valid_interface_name(name))
    throw std::invalid_argument("invalid interface name \"" + name_ + "\"");

  // CLOEXEC matters for cleanup: a child holding a copy of the fd would keep
  // the interface alive after we exit.
  fd_ = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) {
    int e = errno;
    if (e == ENOENT || e == ENODEV || e == ENXIO)
      throw_errno(e, "cannot open /dev/net/tun (is the tun module available?)");
    if (e == EACCES || e == EPERM) throw_errno(e, "creating TUN device needs root (CAP_NET_ADMIN)");
    throw_errno(e, "cannot open /dev/net/tun");
  }

  try {
    bool existed = ::if_nametoindex(name_.c_str()) != 0;
    ifreq ifr = make_ifreq(name_);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
    int rc = ::ioctl(fd_, TUNSETIFF, &ifr);
    if (rc < 0 && offload && errno == EINVAL) {
      // A kernel (or an existing device) without virtio headers: plain TUN.
      ifr = make_ifreq(name_);
      ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
      rc = ::ioctl(fd_, TUNSETIFF, &ifr);
    }
    if (rc < 0) {
      int e = errno;
      if (e == EPERM || e == EACCES)
        throw_errno(e, "creating TUN device " + name_ + " needs root (CAP_NET_ADMIN)");
      if (e == EBUSY) throw_errno(e, "TUN device " + name_ + " is already in use by another process");
      if (e == EINVAL && existed) {
        throw_errno(e, is_tun_or_tap(name_)
                           ? "interface " + name_ + " already exists as a TAP or multi-queue TUN device"
                           : "interface " + name_ + " already exists and is not a TUN device");
      }
      throw_errno(e, "cannot create TUN device " + name_);
    }
    name_ = ifr.ifr_name;

    // A persistent interface outlives our fd, so we must undo our changes;
    // also make sure attaching did not leave a packet-info header on.
    ifreq got{};
    if (::ioctl(fd_, TUNGETIFF, &got) < 0) throw_errno(errno, "cannot query TUN device " + name_);
    persistent_ = got.ifr_flags & IFF_PERSIST;
    if (!(got.ifr_flags & IFF_NO_PI))
      throw std::runtime_error("TUN device " + name_ + " could not be switched to IFF_NO_PI");
    if (persistent_) log::info("attaching to existing persistent TUN device %s", name_.c_str());
    vnet_hdr_ = got.ifr_flags & IFF_VNET_HDR;
    if (vnet_hdr_) {
      int sz = static_cast<int>(net::kVnetHdrSize);
      if (::ioctl(fd_, TUNSETVNETHDRSZ, &sz) < 0) throw_errno(errno, "cannot set the virtio header size of " + name_);
      // TSO: the kernel stops segmenting TCP for us; CSUM is its prerequisite.
      unsigned flags = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
      tso_ = ::ioctl(fd_, TUNSETOFFLOAD, flags) == 0;
      if (!tso_) log::info("%s: no TCP segmentation offload (%s); packets come one by one", name_.c_str(),
                           std::strerror(errno));
    }

    ifindex_ = static_cast<int>(::if_nametoindex(name_.c_str()));
    if (ifindex_ == 0) throw_errno(errno, "cannot find interface index of " + name_);

    // Before the link goes up, so the kernel never generates a link-local
    // address (failure just means IPv6 is off, which is fine). A persistent
    // interface is the administrator's; its settings stay as they are.
    if (!persistent_) nl_.disable_ipv6_link_local(link());

    IoctlSocket s;
    ifreq q = make_ifreq(name_);
    if (::ioctl(s.get(), SIOCGIFMTU, &q) < 0) throw_errno(errno, "cannot read MTU of " + name_);
    old_mtu_ = static_cast<uint32_t>(q.ifr_mtu);
    set_mtu(mtu);
    q = make_ifreq(name_);
    if (::ioctl(s.get(), SIOCGIFFLAGS, &q) < 0) throw_errno(errno, "cannot read flags of " + name_);
    if (!(q.ifr_flags & IFF_UP)) {
      set_up(true);
      brought_up_ = true;
    }
  } catch (...) {
    undo();
    ::close(fd_);
    throw;
  }
}

TunDevice::~TunDevice() {
  undo();
  // For a non-persistent TUN this deletes the interface, its addresses and
  // every route through it.
  ::close(fd_);
}

void TunDevice::undo() noexcept {
  if (!persistent_) return;
  // Best effort: each step is independent, and a failure here must not stop
  // the others (or escape a destructor).
  for (auto it = added_routes_.rbegin(); it != added_routes_.rend(); ++it) {
    try { nl_.del_route(link(), *it); } catch (const std::exception& e) { log::warn("%s: %s", name_.c_str(), e.what()); }
  }
  for (auto it = added_addresses_.rbegin(); it != added_addresses_.rend(); ++it) {
    try { nl_.del_address(link(), *it); } catch (const std::exception& e) { log::warn("%s: %s", name_.c_str(), e.what()); }
  }
  added_routes_.clear();
  added_addresses_.clear();
  try {
    if (brought_up_) set_up(false);
    if (old_mtu_ && old_mtu_ != mtu_) set_mtu(old_mtu_);
  } catch (const std::exception& e) {
    log::warn("%s: %s", name_.c_str(), e.what());
  }
}

void TunDevice::set_mtu(uint32_t mtu) {
  IoctlSocket s;
  ifreq ifr = make_ifreq(name_);
  ifr.ifr_mtu = static_cast<int>(mtu);
  if (::ioctl(s.get(), SIOCSIFMTU, &ifr) < 0)
    throw_errno(errno, "cannot set MTU " + std::to_string(mtu) + " on " + name_);
  mtu_ = mtu;
}

void TunDevice::set_up(bool up) {
  IoctlSocket s;
  ifreq ifr = make_ifreq(name_);
  if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0) throw_errno(errno, "cannot read flags of " + name_);
  if (up)
    ifr.ifr_flags |= IFF_UP;
  else
    ifr.ifr_flags &= ~IFF_UP;
  if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0)
    throw_errno(errno, std::string("cannot bring ") + name_ + (up ? " up" : " down"));
}

void TunDevice::add_address(const net::Prefix& addr) {
  if (nl_.add_address(link(), addr)) added_addresses_.push_back(addr);
}

bool TunDevice::add_route(const net::Prefix& dst) {
  net::Prefix p = dst.masked();
  if (!nl_.add_route(link(), p)) return false;
  added_routes_.push_back(p);
  return true;
}

bool TunDevice::remove_route(const net::Prefix& dst) {
  net::Prefix p = dst.masked();
  bool removed = nl_.del_route(link(), p);
  std::erase(added_routes_, p);
  return removed;
}

ssize_t TunDevice::read(std::span<uint8_t> buf) noexcept {
  ssize_t n = ::read(fd_, buf.data(), buf.size());
  return n < 0 ? -errno : n;
}

ssize_t TunDevice::write(std::span<const uint8_t> packet) noexcept {
  if (vnet_hdr_) {
    static const uint8_t none[net::kVnetHdrSize] = {};  // no GSO, checksum complete
    std::span<const uint8_t> part[1] = {packet};
    ssize_t n = write_parts(none, part);
    return n < 0 ? n : n - static_cast<ssize_t>(net::kVnetHdrSize);
  }
  ssize_t n = ::write(fd_, packet.data(), packet.size());
  return n < 0 ? -errno : n;
}

ssize_t TunDevice::write_parts(const uint8_t* hdr, std::span<const std::span<const uint8_t>> parts) noexcept {
  constexpr size_t kMaxParts = 64;
  iovec iov[kMaxParts + 1];
  size_t k = 0;
  if (vnet_hdr_) iov[k++] = {const_cast<uint8_t*>(hdr), net::kVnetHdrSize};
  for (size_t i = 0; i < parts.size() && i < kMaxParts; ++i)
    iov[k++] = {const_cast<uint8_t*>(parts[i].data()), parts[i].size()};
  ssize_t n = ::writev(fd_, iov, static_cast<int>(k));
  return n < 0 ? -errno : n;
}

}  // namespace ovl::tun
