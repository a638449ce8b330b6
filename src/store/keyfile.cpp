#include "store/keyfile.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace ovl::store {

namespace {
std::runtime_error sys_error(const std::string& what) { return std::runtime_error(what + ": " + std::strerror(errno)); }
}  // namespace

std::optional<crypto::SecretKey> read_key_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw sys_error("cannot open key file " + path);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    throw sys_error("cannot stat key file " + path);
  }
  if (st.st_mode & 077) {
    ::close(fd);
    throw std::runtime_error("key file " + path + " is readable by other users; fix it with: chmod 600 " + path);
  }
  char buf[128];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) throw sys_error("cannot read key file " + path);
  std::string s(buf, static_cast<size_t>(n));
  crypto::wipe(buf, sizeof buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  auto k = crypto::parse_secret(s);
  crypto::wipe(s.data(), s.size());
  if (!k) throw std::runtime_error("key file " + path + " does not hold a valid base64 key");
  return k;
}

void write_key_file(const std::string& path, const crypto::SecretKey& key) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw sys_error("cannot create key file " + path);
  std::string s = crypto::to_base64(key.b) + "\n";
  ssize_t n = ::write(fd, s.data(), s.size());
  int err = errno;
  bool synced = n == static_cast<ssize_t>(s.size()) && ::fsync(fd) == 0;
  ::close(fd);
  crypto::wipe(s.data(), s.size());
  if (!synced) {
    ::unlink(path.c_str());  // never leave a truncated key behind
    errno = err ? err : EIO;
    throw sys_error("cannot write key file " + path);
  }
}

crypto::SecretKey load_or_create_key(const std::string& path, crypto::Rng& rng) {
  if (auto k = read_key_file(path)) return *k;
  auto k = crypto::generate_private_key(rng);
  write_key_file(path, k);
  return k;
}

void ensure_state_dir(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw std::runtime_error("state directory " + dir + " exists but is not a directory");
    return;
  }
  // Parents as needed, the last one private.
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), i == dir.size() ? 0700 : 0755) != 0 && errno != EEXIST)
      throw sys_error("cannot create state directory " + part);
  }
}

}  // namespace ovl::store
