// Disco messages: path probes between two nodes on their WireGuard port.
//
// They share the node's one UDP port with WireGuard (first byte 1..4), STUN
// (top two bits zero) and relay frames ("OVR1"); the magic "OVD1" starts with
// 'O' like the relay's and differs from it in the third byte. Each message is
// sealed (crypto_box) between the sender's and the receiver's static
// WireGuard keys, so only the two peers can make or read it; the sender's key
// travels in clear so the receiver knows which shared key to use.
//
//   0  magic "OVD1" (4)
//   4  sender public key (32)
//  36  nonce (24), random per message
//  60  sealed body: MAC (16) then
//        0  type (1): 1 = ping, 2 = pong
//        1  transaction id (12)
//       13  pong only: the source address the responder saw the ping from:
//           family (1: 4 or 6), address (16, IPv4 in the first 4), port (2, BE)
//
//   ping: 89 bytes; pong: 108 bytes. Any other size is not disco.
//
// A pong is the same size as a ping plus 19 bytes, and is only ever sent in
// answer to a ping that decrypted under a known peer's key and whose
// transaction id was not seen before (nat::Prober), so disco cannot be used
// to amplify traffic toward a third party, nor a captured ping be replayed.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "engine/crypto/keys.hpp"
#include "engine/net/ip.hpp"

namespace ovl::nat::disco {

inline constexpr std::array<uint8_t, 4> kMagic{0x4F, 0x56, 0x44, 0x31};  // "OVD1"
inline constexpr size_t kHeaderSize = 4 + 32 + 24;                       // 60
inline constexpr size_t kMacSize = 16;
inline constexpr size_t kTxIdSize = 12;
inline constexpr size_t kPingBody = 1 + kTxIdSize;       // 13
inline constexpr size_t kPongBody = kPingBody + 1 + 16 + 2;  // 32
inline constexpr size_t kPingSize = kHeaderSize + kMacSize + kPingBody;  // 89
inline constexpr size_t kPongSize = kHeaderSize + kMacSize + kPongBody;  // 108
inline constexpr size_t kMaxSize = kPongSize;

enum class Type : uint8_t { ping = 1, pong = 2 };
using TxId = std::array<uint8_t, kTxIdSize>;

struct Message {
  Type type = Type::ping;
  TxId txid{};
  net::Endpoint observed;  // pong only
  bool operator==(const Message&) const = default;
};

// Magic and one of the two exact sizes: a cheap test for the shared port.
bool is_disco(std::span<const uint8_t> d);
// The sender's public key (in clear) of something is_disco accepted.
std::optional<crypto::PublicKey> sender(std::span<const uint8_t> d);

// Seals `m` from `self` under `shared` (crypto::box_shared of our private key
// and the receiver's public key) with `nonce`; writes kPingSize or kPongSize
// bytes into `out` and returns that size (0 if `out` is too small).
size_t seal(const Message& m, const crypto::PublicKey& self, const crypto::SecretKey& shared,
            const std::array<uint8_t, 24>& nonce, std::span<uint8_t> out);
// Opens a message from the peer whose shared key is `shared`. nullopt if it
// is not disco, was forged or altered, or its body is malformed (unknown type,
// a pong whose address family is neither 4 nor 6).
std::optional<Message> open(std::span<const uint8_t> d, const crypto::SecretKey& shared);

}  // namespace ovl::nat::disco
