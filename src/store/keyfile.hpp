// Private keys on disk: one base64 line in a file of mode 0600, like
// WireGuard's own key files. A key file that others can read is refused,
// with the command that fixes it.
#pragma once
#include <optional>
#include <string>

#include "engine/crypto/keys.hpp"

namespace ovl::store {

// Reads a key file. nullopt if it does not exist; throws std::runtime_error
// if it is readable by group/others, or unreadable, or not a key.
std::optional<crypto::SecretKey> read_key_file(const std::string& path);
// Creates the file with mode 0600 (fails if it exists) and writes the key.
void write_key_file(const std::string& path, const crypto::SecretKey& key);
// Reads the key, or generates and writes a new one.
crypto::SecretKey load_or_create_key(const std::string& path, crypto::Rng& rng);

// Creates the state directory (mode 0700) if missing; throws with a clear
// message if that is impossible (read-only filesystem, not a directory...).
void ensure_state_dir(const std::string& dir);

}  // namespace ovl::store
