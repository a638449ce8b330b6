#include "engine/wg/keypair.hpp"

#include <cstring>

#include "engine/crypto/aead.hpp"

namespace ovl::wg {

size_t seal_transport(Keypair& kp, uint64_t counter, uint8_t* pkt, size_t len) {
  return seal_transport(kp.send_key, kp.remote_index, counter, pkt, len);
}

size_t seal_transport(const crypto::SecretKey& send_key, uint32_t remote_index, uint64_t counter, uint8_t* pkt,
                      size_t len) {
  size_t plen = padded_len(len);
  std::memset(pkt + len, 0, plen - len);
  uint8_t* hdr = pkt - kTransportHeaderSize;
  serialize(TransportHeader{remote_index, counter}, std::span<uint8_t, kTransportHeaderSize>(hdr, kTransportHeaderSize));
  crypto::aead_seal(pkt, send_key.data(), counter, {pkt, plen}, {});
  return kTransportHeaderSize + plen + kTagSize;
}

bool decrypt_transport(const crypto::SecretKey& recv_key, std::span<uint8_t> dgram) {
  uint64_t counter = get_le64(dgram.data() + 8);
  if (counter >= kRejectAfterMessages) return false;
  auto ct = dgram.subspan(kTransportHeaderSize);
  return crypto::aead_open(ct.data(), recv_key.data(), counter, ct, {});
}

OpenResult accept_opened(Keypair& kp, std::span<uint8_t> dgram, std::span<uint8_t>& plain) {
  uint64_t counter = get_le64(dgram.data() + 8);
  if (!kp.replay.check_and_update(counter, kRejectAfterMessages)) return OpenResult::replayed;
  plain = dgram.subspan(kTransportHeaderSize, dgram.size() - kTransportHeaderSize - kTagSize);
  return OpenResult::ok;
}

OpenResult open_transport(Keypair& kp, std::span<uint8_t> dgram, std::span<uint8_t>& plain) {
  uint64_t counter = get_le64(dgram.data() + 8);
  auto ct = dgram.subspan(kTransportHeaderSize);
  uint8_t* out = ct.data();
  // A counter beyond the limit or far behind the window can be dropped before
  // spending the AEAD on it; the window itself moves only after authentication.
  if (counter >= kRejectAfterMessages) return OpenResult::replayed;
  if (!crypto::aead_open(out, kp.recv_key.data(), counter, ct, {})) return OpenResult::bad_auth;
  if (!kp.replay.check_and_update(counter, kRejectAfterMessages)) return OpenResult::replayed;
  plain = {out, ct.size() - kTagSize};
  return OpenResult::ok;
}

}  // namespace ovl::wg
