#include "cli/api_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "engine/io/daemon.hpp"

namespace ovl::cli {

nlohmann::json api_call(const std::string& state_dir, const nlohmann::json& request) {
  std::string path = io::api_socket_path(state_dir);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) throw std::runtime_error("state dir path is too long for a unix socket");
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    ::close(fd);
    if (e == ENOENT || e == ECONNREFUSED)
      throw std::runtime_error("ovl is not running with state dir " + state_dir + " (start it with `ovl up`)");
    if (e == EACCES) throw std::runtime_error("permission denied on " + path + " (run as root)");
    throw std::runtime_error("cannot reach the ovl daemon at " + path + ": " + std::strerror(e));
  }
  // A daemon that hangs must not hang the CLI forever.
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req = request.dump() + "\n";
  size_t off = 0;
  while (off < req.size()) {
    ssize_t n = ::write(fd, req.data() + off, req.size() - off);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("lost the connection to the ovl daemon");
    }
    off += static_cast<size_t>(n);
  }
  std::string resp;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error("the ovl daemon did not answer in time");
    }
    if (n == 0) break;
    resp.append(buf, static_cast<size_t>(n));
    if (!resp.empty() && resp.back() == '\n') break;
  }
  ::close(fd);
  auto j = nlohmann::json::parse(resp, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error("the ovl daemon sent an unreadable answer");
  return j;
}

bool api_request(const std::string& state_dir, const nlohmann::json& request, nlohmann::json& response) {
  try {
    response = api_call(state_dir, request);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ovl: %s\n", e.what());
    return false;
  }
  if (response.contains("error")) {
    const auto& e = response["error"];
    std::fprintf(stderr, "ovl: %s\n", e.is_string() ? e.get<std::string>().c_str() : "the daemon reported an error");
    return false;
  }
  return true;
}

}  // namespace ovl::cli
