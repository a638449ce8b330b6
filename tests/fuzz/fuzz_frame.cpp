// Fuzz target for the control channel's length-prefixed frame reader
// (engine/control/frame): a stream fed in arbitrary fragmentation must yield
// exactly the frames, and the refusal, of a plain reference split of the
// whole stream; a refusal is sticky; nothing crashes.
//
// Input: [max][chunk][stream...]
//   max:   the largest frame accepted is 1 + max (so small lengths hit the cap)
//   chunk: 0 feeds the stream at once, otherwise pieces of 1..chunk bytes
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/control/frame.hpp"
#include "invariant.hpp"

using ovl::control::FrameReader;
using ovl::fuzz::check;
using ovl::fuzz::same;

namespace {

struct Split {
  std::vector<std::span<const uint8_t>> frames;
  bool bad = false;  // a zero or too-long length ends the stream
};

// The reference: walk the whole stream at once.
Split reference(std::span<const uint8_t> s, size_t max) {
  Split r;
  while (s.size() >= 4) {
    uint32_t len = uint32_t(s[0]) << 24 | uint32_t(s[1]) << 16 | uint32_t(s[2]) << 8 | s[3];
    if (len == 0 || len > max) {
      r.bad = true;
      return r;
    }
    if (s.size() - 4 < len) return r;
    r.frames.push_back(s.subspan(4, len));
    s = s.subspan(4 + len);
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t max = 1 + data[0];
  const size_t chunk = data[1];
  std::span<const uint8_t> stream(data + 2, size - 2);
  Split want = reference(stream, max);

  FrameReader rd(max);
  size_t got = 0, step = 0;
  bool bad = false;
  std::span<const uint8_t> rest = stream;
  while (!rest.empty() && !bad) {
    size_t n = chunk == 0 ? rest.size() : std::min(rest.size(), 1 + (step++ * 7) % chunk);
    std::span<const uint8_t> in = rest.first(n);
    rest = rest.subspan(n);
    for (;;) {
      std::span<const uint8_t> frame;
      auto res = rd.next(in, frame);
      if (res == FrameReader::Result::need_more) {
        check(in.empty(), "need_more only when the input is used up");
        break;
      }
      if (res == FrameReader::Result::bad_length) {
        bad = true;
        check(rd.bad_length() == 0 || rd.bad_length() > max, "bad_length names the offending length");
        std::span<const uint8_t> more = stream, f;
        check(rd.next(more, f) == FrameReader::Result::bad_length, "a refusal is sticky");
        break;
      }
      check(got < want.frames.size(), "no frame beyond the reference's");
      check(same(frame, want.frames[got]), "frame bytes equal the reference's");
      check(frame.size() <= max, "a frame never exceeds max");
      ++got;
    }
  }
  check(bad == want.bad, "refused exactly when the reference refuses");
  check(got == want.frames.size(), "every complete frame delivered");
  return 0;
}
