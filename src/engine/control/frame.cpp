#include "engine/control/frame.hpp"

#include <algorithm>

namespace ovl::control {

namespace {
// Above this, a finished frame's buffer is released rather than kept for the
// next one: an idle control link should not hold a 16 MiB buffer forever.
constexpr size_t kKeepCapacity = 256 << 10;
}  // namespace

void FrameReader::reset() {
  have_hdr_ = 0;
  len_ = 0;
  done_ = false;
  if (body_.capacity() > kKeepCapacity)
    std::vector<uint8_t>().swap(body_);
  else
    body_.clear();
}

FrameReader::Result FrameReader::next(std::span<const uint8_t>& in, std::span<const uint8_t>& frame) {
  if (failed_) return Result::bad_length;
  if (done_) reset();

  while (have_hdr_ < kFrameHeaderSize) {
    if (in.empty()) return Result::need_more;
    hdr_[have_hdr_++] = in.front();
    in = in.subspan(1);
    if (have_hdr_ == kFrameHeaderSize) {
      len_ = uint32_t(hdr_[0]) << 24 | uint32_t(hdr_[1]) << 16 | uint32_t(hdr_[2]) << 8 | hdr_[3];
      if (len_ == 0 || len_ > max_) {
        failed_ = true;
        return Result::bad_length;
      }
    }
  }

  // The common case, a whole frame inside one read: no copy at all.
  if (body_.empty() && in.size() >= len_) {
    frame = in.first(len_);
    in = in.subspan(len_);
    done_ = true;
    return Result::frame;
  }

  size_t take = std::min<size_t>(in.size(), len_ - body_.size());
  if (body_.size() + take > body_.capacity())
    body_.reserve(std::min<size_t>(len_, std::max({body_.capacity() * 2, body_.size() + take, size_t(64)})));
  body_.insert(body_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
  in = in.subspan(take);
  if (body_.size() < len_) return Result::need_more;
  frame = body_;
  done_ = true;
  return Result::frame;
}

}  // namespace ovl::control
