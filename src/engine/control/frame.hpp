// Internal to SecureChannel: the u32 length-prefixed stream framing.
//
//   0  length L (u32 big-endian), 1 <= L <= max
//   4  L bytes of frame body
//
// The reader accepts bytes in any fragmentation. The length is checked
// against `max` as soon as its 4 bytes are in, before any memory is set
// aside for the body; the body buffer then grows geometrically (capped at
// L) as bytes actually arrive, so a peer that announces a large frame and
// sends little costs little, and a 1-byte-at-a-time peer costs O(log L)
// allocations per frame, not one per byte.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ovl::control {

inline constexpr size_t kFrameHeaderSize = 4;

// Appends a frame header for a body of `len` bytes.
inline void put_frame_header(uint8_t* p, uint32_t len) {
  p[0] = static_cast<uint8_t>(len >> 24);
  p[1] = static_cast<uint8_t>(len >> 16);
  p[2] = static_cast<uint8_t>(len >> 8);
  p[3] = static_cast<uint8_t>(len);
}

class FrameReader {
 public:
  explicit FrameReader(size_t max_len) : max_(max_len) {}

  enum class Result {
    need_more,   // `in` is used up and no frame is complete
    frame,       // `frame` is one complete body; call next() again for more
    bad_length,  // a length of 0 or above max (bad_length() tells which); sticky
  };
  // Consumes bytes from the front of `in` up to the end of at most one frame.
  // On Result::frame, `frame` points either into `in` (when the whole frame
  // was there) or into the reader's own buffer; it stays valid until the
  // next call.
  Result next(std::span<const uint8_t>& in, std::span<const uint8_t>& frame);

  uint32_t bad_length() const { return len_; }
  // Changes the largest acceptable frame (takes effect from the next frame).
  void set_max(size_t max_len) { max_ = max_len; }
  size_t max() const { return max_; }
  // True between frames (nothing of a partial frame buffered).
  bool idle() const { return have_hdr_ == 0 && !done_; }

 private:
  void reset();

  size_t max_;
  uint8_t hdr_[kFrameHeaderSize]{};
  size_t have_hdr_ = 0;
  uint32_t len_ = 0;
  bool failed_ = false;
  bool done_ = false;  // the last call returned a frame; reset on the next
  std::vector<uint8_t> body_;
};

}  // namespace ovl::control
