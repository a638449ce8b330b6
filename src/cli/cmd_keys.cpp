// `ovl genkey` and `ovl pubkey`: the same output as `wg genkey` / `wg pubkey`
// (44 base64 characters and a newline), so scripts written for wg work.
// Keys are not structured data, so --json prints the same text.
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "cli/commands.hpp"
#include "engine/crypto/keys.hpp"

namespace ovl::cli {

namespace {

// Writes the whole line and flushes, so a closed pipe or full disk is an error
// rather than a silently truncated key.
int print_key_line(std::string& b64) {
  b64.push_back('\n');
  bool ok = std::fwrite(b64.data(), 1, b64.size(), stdout) == b64.size() && std::fflush(stdout) == 0;
  crypto::wipe(b64.data(), b64.size());
  if (!ok) {
    std::fprintf(stderr, "ovl: cannot write to stdout\n");
    return 1;
  }
  return 0;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

int cmd_genkey(const GlobalOptions&) {
  // Only stdout: whoever redirects it chooses the file and its mode
  // (`umask 077; ovl genkey > private.key`, as with wg).
  crypto::SystemRng rng;
  const crypto::SecretKey key = crypto::generate_private_key(rng);
  std::string b64 = crypto::to_base64(key.b);
  return print_key_line(b64);
}

int cmd_pubkey(const GlobalOptions&) {
  // A key is 44 characters; allow generous surrounding whitespace but do not
  // read an unbounded stream into memory.
  constexpr size_t kMaxInput = 4096;
  char buf[kMaxInput + 1];
  size_t n = std::fread(buf, 1, sizeof buf, stdin);
  std::string_view text(buf, n);
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);

  std::optional<crypto::SecretKey> priv;
  if (n <= kMaxInput && !std::ferror(stdin)) priv = crypto::parse_secret(text);
  crypto::wipe(buf, sizeof buf);
  if (!priv) {
    std::fprintf(stderr, "ovl: invalid private key on stdin\n");
    return 2;
  }
  std::string b64 = crypto::to_base64(crypto::public_from_private(*priv));
  return print_key_line(b64);
}

}  // namespace ovl::cli
