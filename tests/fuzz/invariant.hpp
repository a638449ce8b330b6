// Shared by the fuzz targets: a failed invariant aborts with a message, so
// libFuzzer records the input as a crash (and the corpus replay fails).
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

namespace ovl::fuzz {

inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

// Reads a fuzz input as a script of records [op (1)][length (2, BE)][bytes],
// at most `max_steps` of them; each record's bytes come as an exactly sized
// heap copy, so any read past their end is caught.
class Script {
 public:
  Script(const uint8_t* data, size_t size, int max_steps = 256) : data_(data), size_(size), left_(max_steps) {}
  bool next(uint8_t& op, std::vector<uint8_t>& bytes) {
    if (pos_ >= size_ || left_-- <= 0) return false;
    op = data_[pos_++];
    size_t len = 0;
    if (pos_ + 2 <= size_) len = size_t(data_[pos_]) << 8 | data_[pos_ + 1];
    pos_ = pos_ + 2 <= size_ ? pos_ + 2 : size_;
    len = len < size_ - pos_ ? len : size_ - pos_;
    bytes = std::vector<uint8_t>(data_ + pos_, data_ + pos_ + len);  // a new, exactly sized buffer
    pos_ += len;
    return true;
  }

 private:
  const uint8_t* data_;
  size_t size_, pos_ = 0;
  int left_;
};

inline bool same(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace ovl::fuzz
