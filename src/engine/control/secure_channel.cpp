#include "engine/control/secure_channel.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "engine/control/frame.hpp"
#include "engine/crypto/aead.hpp"
#include "engine/wg/cookie.hpp"
#include "engine/wg/keypair.hpp"
#include "engine/wg/messages.hpp"
#include "engine/wg/noise.hpp"

namespace ovl::control {

namespace {

using crypto::PublicKey;
using crypto::SecretKey;

constexpr size_t kTransportOverhead = wg::kTransportHeaderSize + wg::kTagSize;
constexpr size_t kMaxMessage = kMaxFrame - kTransportOverhead;
// No counter may be used twice under one key; a TCP link never gets near
// this, but the check costs nothing.
constexpr uint64_t kCounterLimit = wg::kRejectAfterMessages;

bool all_zero(std::span<const uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

class Channel final : public SecureChannel {
 public:
  // Until the handshake is done only frames of the exact handshake sizes are
  // possible, so nobody unauthenticated can make us buffer more than that.
  Channel(const SecretKey& self, crypto::Rng& rng) : rng_(&rng), reader_(wg::kInitiationSize) {
    self_.private_key = self;
    self_.public_key = crypto::public_from_private(self);
  }

  ~Channel() override {
    wipe_pending();
    hs_.clear();
  }

  void start_client(const PublicKey& server, int64_t wall_ns) {
    remote_ = server;
    phase_ = Phase::await_response;
    reader_.set_max(wg::kResponseSize);
    peer_ = wg::PeerKeys::make(self_, server, nullptr);
    if (!peer_.valid) return fail("the coordinator's public key is not a usable X25519 key");
    local_index_ = rng_->u32();
    wg::Initiation init;
    if (!wg::create_initiation(hs_, self_, peer_, wg::tai64n(wall_ns), *rng_, local_index_, init))
      return fail("could not create the handshake initiation");
    uint8_t msg[wg::kInitiationSize];
    wg::serialize(init, std::span<uint8_t, wg::kInitiationSize>(msg));
    wg::CookieGenerator macs;
    macs.init(server);
    macs.add_macs(msg, wg::kInitiationMac1Offset, wg::Time{0});  // no cookie over TCP: mac2 stays zero
    emit_frame(msg);
    rng_ = nullptr;  // the client needs no more randomness; do not keep the caller's Rng
  }

  void start_server() { phase_ = Phase::await_initiation; }

  const char* expected() const {
    switch (phase_) {
      case Phase::await_initiation: return "expected a handshake initiation";
      case Phase::await_response: return "expected a handshake response";
      case Phase::await_confirmation: return "expected the session confirmation";
      default: return "frame too large";
    }
  }

  bool on_bytes(std::span<const uint8_t> in, std::vector<std::string>& out) override {
    while (phase_ != Phase::failed) {
      std::span<const uint8_t> frame;
      switch (reader_.next(in, frame)) {
        case FrameReader::Result::need_more:
          return true;
        case FrameReader::Result::bad_length:
          if (reader_.bad_length() == 0)
            fail("received an empty frame");
          else
            fail(std::string(expected()) + ", got a frame of " + std::to_string(reader_.bad_length()) +
                 " bytes (the limit is " + std::to_string(reader_.max()) + ")");
          return false;
        case FrameReader::Result::frame:
          on_frame(frame, out);
          break;
      }
    }
    return false;
  }

  void send(std::string_view message) override {
    if (phase_ == Phase::failed) return;
    if (message.size() > kMaxMessage)
      return fail("tried to send a message of " + std::to_string(message.size()) + " bytes, more than the limit of " +
                  std::to_string(kMaxMessage));
    if (phase_ == Phase::open)
      emit_transport(message);
    else
      pending_.emplace_back(message);
  }

  std::vector<uint8_t> take_output() override { return std::exchange(out_, {}); }
  bool established() const override { return phase_ == Phase::open; }
  const PublicKey& remote_key() const override { return remote_; }
  const std::string& error() const override { return error_; }

 private:
  enum class Phase { await_initiation, await_confirmation, await_response, open, failed };

  void on_frame(std::span<const uint8_t> f, std::vector<std::string>& out) {
    switch (phase_) {
      case Phase::await_initiation: return on_initiation(f);
      case Phase::await_response: return on_response(f);
      case Phase::await_confirmation: return on_confirmation(f);
      case Phase::open: return on_transport(f, out);
      case Phase::failed: return;
    }
  }

  void on_initiation(std::span<const uint8_t> f) {
    auto init = wg::parse_initiation(f);
    if (!init) return fail("the first frame from the client is not a handshake initiation");
    wg::CookieChecker checker;
    checker.init(self_.public_key);
    if (!checker.check_mac1(f, wg::kInitiationMac1Offset))
      return fail("the handshake initiation is not addressed to this server's key (the client pins another key)");
    if (!all_zero(init->mac2)) return fail("the handshake initiation carries an unexpected cookie MAC");

    // Any initiator key is welcome here; the caller decides what it may do.
    auto c = wg::consume_initiation(self_, *init, [this](const PublicKey& k) -> const wg::PeerKeys* {
      peer_ = wg::PeerKeys::make(self_, k, nullptr);
      return &peer_;
    });
    if (!c) return fail("the handshake initiation failed to authenticate");

    hs_.state = wg::Handshake::State::initiation_consumed;
    hs_.hash = c->hash;
    hs_.chaining_key = c->chaining_key;
    hs_.remote_ephemeral = c->remote_ephemeral;
    hs_.remote_index = c->remote_index;
    crypto::wipe(c->hash.data(), c->hash.size());

    local_index_ = rng_->u32();
    wg::Response resp;
    auto keys = wg::create_response(hs_, peer_, *rng_, local_index_, resp);
    if (!keys) return fail("could not complete the handshake with this client");
    uint8_t msg[wg::kResponseSize];
    wg::serialize(resp, std::span<uint8_t, wg::kResponseSize>(msg));
    wg::CookieGenerator macs;
    macs.init(c->remote_static);
    macs.add_macs(msg, wg::kResponseMac1Offset, wg::Time{0});
    emit_frame(msg);

    send_key_ = keys->send;
    recv_key_ = keys->recv;
    remote_index_ = c->remote_index;
    initiator_key_ = c->remote_static;
    // Not established yet: a replayed initiation gets this far too. Only a
    // transport frame under the new keys proves the client is live.
    phase_ = Phase::await_confirmation;
    reader_.set_max(wg::kTransportMinSize);
  }

  void on_confirmation(std::span<const uint8_t> f) {
    std::string empty;
    if (!open_transport(f, empty) || !empty.empty())
      return fail("the client did not confirm the session keys");
    remote_ = initiator_key_;
    rng_ = nullptr;
    become_open();
  }

  void on_response(std::span<const uint8_t> f) {
    auto resp = wg::parse_response(f);
    if (!resp) return fail("the first frame from the server is not a handshake response");
    wg::CookieChecker checker;
    checker.init(self_.public_key);
    if (!checker.check_mac1(f, wg::kResponseMac1Offset))
      return fail("the handshake response is not addressed to this node's key");
    if (!all_zero(resp->mac2)) return fail("the handshake response carries an unexpected cookie MAC");
    if (resp->receiver != local_index_) return fail("the handshake response answers another handshake");
    auto keys = wg::consume_response(hs_, self_, peer_, *resp);
    if (!keys)
      return fail("the server failed to prove it holds the coordinator key from the token (handshake response did not "
                  "authenticate)");
    hs_.clear();
    send_key_ = keys->send;
    recv_key_ = keys->recv;
    remote_index_ = resp->sender;
    // Key confirmation for the server: an empty transport message, counter 0.
    emit_transport({});
    become_open();
  }

  void on_transport(std::span<const uint8_t> f, std::vector<std::string>& out) {
    out.emplace_back();
    if (!open_transport(f, out.back())) out.pop_back();
  }

  // Authenticates and decrypts one transport frame into `plain`; fails the
  // channel and returns false on anything but the next message in order.
  bool open_transport(std::span<const uint8_t> f, std::string& plain) {
    auto h = wg::parse_transport_header(f);
    if (!h) {
      fail("received a frame that is not a transport message");
      return false;
    }
    if (h->receiver != local_index_) {
      fail("received a transport message for another session");
      return false;
    }
    if (h->counter != recv_counter_ || recv_counter_ >= kCounterLimit) {
      fail("received a transport message out of sequence (replayed, dropped or reordered)");
      return false;
    }
    auto sealed = f.subspan(wg::kTransportHeaderSize);
    plain.resize(sealed.size() - wg::kTagSize);
    if (!crypto::aead_open(reinterpret_cast<uint8_t*>(plain.data()), recv_key_.data(), h->counter, sealed, {})) {
      crypto::wipe(plain.data(), plain.size());
      plain.clear();
      fail("a transport message failed authentication");
      return false;
    }
    ++recv_counter_;
    return true;
  }

  void become_open() {
    phase_ = Phase::open;
    reader_.set_max(kMaxFrame);
    std::vector<std::string> queued = std::exchange(pending_, {});
    for (auto& m : queued) {
      if (phase_ == Phase::open) emit_transport(m);
      crypto::wipe(m.data(), m.size());
    }
  }

  void emit_frame(std::span<const uint8_t> body) {
    size_t at = out_.size();
    out_.resize(at + kFrameHeaderSize + body.size());
    put_frame_header(out_.data() + at, static_cast<uint32_t>(body.size()));
    std::copy(body.begin(), body.end(), out_.begin() + static_cast<std::ptrdiff_t>(at + kFrameHeaderSize));
  }

  void emit_transport(std::string_view message) {
    if (send_counter_ >= kCounterLimit) return fail("the session has sent too many messages; reconnect");
    size_t len = kTransportOverhead + message.size();
    size_t at = out_.size();
    out_.resize(at + kFrameHeaderSize + len);
    uint8_t* p = out_.data() + at;
    put_frame_header(p, static_cast<uint32_t>(len));
    p += kFrameHeaderSize;
    wg::TransportHeader h{remote_index_, send_counter_};
    wg::serialize(h, std::span<uint8_t, wg::kTransportHeaderSize>(p, wg::kTransportHeaderSize));
    crypto::aead_seal(p + wg::kTransportHeaderSize, send_key_.data(), send_counter_,
                      {reinterpret_cast<const uint8_t*>(message.data()), message.size()}, {});
    ++send_counter_;
  }

  void fail(std::string why) {
    phase_ = Phase::failed;
    error_ = std::move(why);
    out_.clear();  // the connection is to be closed; nothing more goes out
    wipe_pending();
    hs_.clear();
    send_key_ = SecretKey{};
    recv_key_ = SecretKey{};
    rng_ = nullptr;
  }

  void wipe_pending() {
    for (auto& m : pending_) crypto::wipe(m.data(), m.size());
    pending_.clear();
  }

  Phase phase_ = Phase::failed;
  crypto::Rng* rng_;
  wg::Identity self_;
  wg::PeerKeys peer_;
  wg::Handshake hs_;
  PublicKey remote_{};         // the server's key (client), or the confirmed client's key (server)
  PublicKey initiator_key_{};  // server: the key in the initiation, until confirmed
  uint32_t local_index_ = 0, remote_index_ = 0;
  SecretKey send_key_, recv_key_;
  uint64_t send_counter_ = 0, recv_counter_ = 0;
  FrameReader reader_;
  std::vector<std::string> pending_;
  std::vector<uint8_t> out_;
  std::string error_;
};

}  // namespace

std::unique_ptr<SecureChannel> SecureChannel::client(const SecretKey& self, const PublicKey& server, crypto::Rng& rng,
                                                     int64_t wall_ns) {
  auto c = std::make_unique<Channel>(self, rng);
  c->start_client(server, wall_ns);
  return c;
}

std::unique_ptr<SecureChannel> SecureChannel::server(const SecretKey& self, crypto::Rng& rng) {
  auto c = std::make_unique<Channel>(self, rng);
  c->start_server();
  return c;
}

}  // namespace ovl::control
