// Fuzz target for the STUN codec (engine/nat/stun.hpp).
//
// On arbitrary input no parser crashes, each agrees with is_stun and with the
// others, and a parsed request is always answerable: the response (to an
// observed address taken from the input) parses back to the same transaction
// id and address, or is the documented 420 / silence for change requests.
// Built requests parse back, and a FINGERPRINT catches any corrupted byte.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "engine/nat/stun.hpp"
#include "engine/wg/messages.hpp"
#include "invariant.hpp"

namespace {

using namespace ovl;
using namespace ovl::nat;

using ovl::fuzz::check;

using ovl::fuzz::same;

// An endpoint made from input bytes (v4 or v6 by the first byte).
net::Endpoint endpoint_from(std::span<const uint8_t> in, size_t salt) {
  net::Endpoint ep;
  uint8_t bytes[19] = {};
  for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = in.empty() ? uint8_t(i + salt) : in[(i + salt) % in.size()];
  ep.ip.v6 = bytes[0] & 1;
  std::memcpy(ep.ip.b.data(), bytes + 1, ep.ip.v6 ? 16 : 4);
  ep.port = static_cast<uint16_t>(bytes[17] << 8 | bytes[18]);
  return ep;
}

void header_checks(std::span<const uint8_t> in, bool classic, std::span<const uint8_t> txid) {
  check(is_stun(in), "a parsed message is STUN");
  check(in.size() >= kStunHeaderSize && (in.size() - kStunHeaderSize) % 4 == 0, "framing");
  check(size_t(in[2] << 8 | in[3]) + kStunHeaderSize == in.size(), "length field");
  check(!wg::message_type(in), "a STUN message is never WireGuard");
  if (classic) check(same(txid, in.subspan(4, kClassicTxIdSize)), "classic txid");
  else check(same(txid, in.subspan(8, kTxIdSize)) && in[4] == 0x21 && in[5] == 0x12 && in[6] == 0xa4 && in[7] == 0x42,
             "txid after the cookie");
}

void parsers(std::span<const uint8_t> in) {
  const bool stun = is_stun(in);
  const auto req = parse_request(in);
  const auto resp = parse_response(in);
  const auto err = parse_error_response(in);
  check(!(req && resp) && !(req && err) && !(resp && err), "at most one parser accepts");
  if (!stun) check(!req && !resp && !err, "parsers accept only is_stun input");
  if (stun && in[0] <= 4 && in[1] == 0 && in[2] == 0 && in[3] == 0) check(false, "never WireGuard-shaped");

  if (resp) header_checks(in, resp->classic, resp->txid_bytes());
  if (err) {
    header_checks(in, err->classic, err->txid_bytes());
    check(err->code >= 300 && err->code <= 699, "error code range");
  }
  if (!req) return;
  header_checks(in, req->classic, req->txid_bytes());
  check(req->has_change_request || !req->wants_change(), "change flags need CHANGE-REQUEST");

  const auto observed = endpoint_from(in, 3);
  const auto server = endpoint_from(in, 7);
  const auto out = binding_response(*req, observed, server);
  if (req->wants_change() && req->classic) {
    check(out.empty(), "classic change request: silence");
    return;
  }
  check(!out.empty() && is_stun(out), "a response is STUN");
  check(!parse_request(out), "a response is not a request");
  if (req->wants_change()) {
    check(!parse_response(out), "change request: not a success");
    const auto e = parse_error_response(out);
    check(e && e->code == 420 && same(e->txid_bytes(), req->txid_bytes()) && !e->classic, "change request: 420");
    check(e->unknown_attributes.size() == 1 && e->unknown_attributes[0] == attr::kChangeRequest, "names CHANGE-REQUEST");
    return;
  }
  const auto back = parse_response(out);
  check(back.has_value(), "response parses");
  check(back->classic == req->classic, "same protocol generation");
  check(same(back->txid_bytes(), req->txid_bytes()), "same transaction id");
  check(back->mapped == observed, "same observed address");
  check(back->from_xor == !req->classic, "XOR-MAPPED-ADDRESS exactly for RFC 8489");
}

// The pick-th (mod count) byte of a valid message that lies in its header
// or in an attribute value (padding excluded).
size_t in_header_or_value(std::span<const uint8_t> m, size_t pick) {
  std::vector<size_t> positions;
  for (size_t i = 0; i < kStunHeaderSize; ++i) positions.push_back(i);
  for (size_t off = kStunHeaderSize; off + 4 <= m.size();) {
    const size_t len = size_t(m[off + 2]) << 8 | m[off + 3];
    for (size_t i = 0; i < len; ++i) positions.push_back(off + 4 + i);
    off += 4 + ((len + 3) & ~size_t{3});
  }
  return positions[pick % positions.size()];
}

void builders(std::span<const uint8_t> in) {
  if (in.size() < kTxIdSize + 1) return;
  TxId id;
  std::memcpy(id.data(), in.data(), kTxIdSize);
  const uint8_t flags = in[kTxIdSize];
  RequestOptions opt;
  opt.fingerprint = flags & 1;
  const auto rest = in.subspan(kTxIdSize + 1);
  if (flags & 2) opt.software = std::string_view(reinterpret_cast<const char*>(rest.data()), rest.size());
  const auto m = binding_request(id, opt);
  check(is_stun(m), "built request is STUN");
  const auto r = parse_request(m);
  check(r && !r->classic && !r->has_change_request && same(r->txid_bytes(), id), "built request round trips");

  const auto observed = endpoint_from(rest, 0);
  const auto resp = binding_response(*r, observed, endpoint_from(rest, 5));
  const auto back = parse_response(resp);
  check(back && back->answers(id) && back->mapped == observed, "built response round trips");

  // The FINGERPRINT catches a corrupted byte in the header or in any
  // attribute value. (Not in an attribute's type or length: a changed length
  // can swallow the FINGERPRINT, and FINGERPRINT is optional, so the message
  // then simply has none. It tells STUN apart from other protocols; it is not
  // an integrity check.)
  if (opt.fingerprint && rest.size() >= 2) {
    const size_t pick = size_t(rest[0]) << 8 | rest[1];
    const auto xor_byte = static_cast<uint8_t>(flags | 1);
    auto bad = m;
    const size_t pos = in_header_or_value(m, pick);
    bad[pos] ^= xor_byte;
    check(!parse_request(bad), "FINGERPRINT catches a corrupted request");
    auto bad_resp = resp;
    bad_resp[in_header_or_value(resp, pick)] ^= xor_byte;
    check(!parse_response(bad_resp), "FINGERPRINT catches a corrupted response");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exactly sized heap copy, so any read past the end is caught.
  std::vector<uint8_t> buf(data, data + size);
  std::span<const uint8_t> in(buf.data(), buf.size());
  parsers(in);
  builders(in);
  return 0;
}
