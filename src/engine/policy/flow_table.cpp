#include "engine/policy/flow_table.hpp"

namespace ovl::policy {

namespace {

uint64_t mix(uint64_t h, uint64_t v) {
  // splitmix64's finalizer over a running state: cheap, and every input bit
  // reaches every output bit.
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

uint64_t word(const std::array<uint8_t, 16>& a, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = v << 8 | a[at + i];
  return v;
}

}  // namespace

FlowTable::FlowTable(size_t capacity, uint64_t seed) : seed_(seed) {
  size_t n = kMinCapacity;
  while (n < capacity) n <<= 1;
  slots_.resize(n);
  mask_ = n - 1;
}

size_t FlowTable::home(const FlowKey& k) const {
  uint64_t h = mix(seed_, word(k.local, 0));
  h = mix(h, word(k.local, 8));
  h = mix(h, word(k.remote, 0));
  h = mix(h, word(k.remote, 8));
  h = mix(h, uint64_t(k.local_port) << 32 | uint64_t(k.remote_port) << 16 | uint64_t(k.proto) << 1 | k.v6);
  return static_cast<size_t>(h) & mask_;
}

void FlowTable::note(const FlowKey& k, Time now, Time expires) {
  const size_t h = home(k);
  Slot* free = nullptr;
  Slot* oldest = nullptr;
  for (size_t i = 0; i < kProbe; ++i) {
    Slot& s = slots_[(h + i) & mask_];
    if (s.used && s.key == k) {
      if (expires > s.expires) s.expires = expires;
      return;
    }
    if (!free && (!s.used || s.expires <= now)) free = &s;
    if (!oldest || s.expires < oldest->expires) oldest = &s;
  }
  Slot* to = free;
  if (!to) {  // every slot of the window holds a live flow
    to = oldest;
    ++evictions_;
  }
  to->key = k;
  to->expires = expires;
  to->used = true;
}

bool FlowTable::touch(const FlowKey& k, Time now, Time expires) {
  const size_t h = home(k);
  for (size_t i = 0; i < kProbe; ++i) {
    Slot& s = slots_[(h + i) & mask_];
    if (s.used && s.key == k) {
      if (s.expires <= now) return false;
      if (expires > s.expires) s.expires = expires;
      return true;
    }
  }
  return false;
}

bool FlowTable::contains(const FlowKey& k, Time now) const {
  const size_t h = home(k);
  for (size_t i = 0; i < kProbe; ++i) {
    const Slot& s = slots_[(h + i) & mask_];
    if (s.used && s.key == k) return s.expires > now;
  }
  return false;
}

size_t FlowTable::live(Time now) const {
  size_t n = 0;
  for (auto& s : slots_) n += s.used && s.expires > now;
  return n;
}

}  // namespace ovl::policy
