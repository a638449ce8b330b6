// Fuzz target for the resolv.conf block (engine/dns/resolv_conf): any text,
// as a file ovl finds on a host. The block must always come out whole and
// alone, and taking it out must give back the file ovl found.
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/dns/resolv_conf.hpp"
#include "invariant.hpp"

using ovl::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ovl::dns;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)read_resolv_conf(text);

  const std::string added = add_block(text, "100.100.100.100", "net.ovl");
  check(has_block(added), "a block is present after add_block");
  check(add_block(added, "100.100.100.100", "net.ovl") == added, "add_block is idempotent");
  const auto view = read_resolv_conf(added);
  check(!view.nameservers.empty() && view.nameservers.front() == "100.100.100.100", "our nameserver comes first");
  check(!view.search.empty() && view.search.front() == "net.ovl", "our domain is searched first");
  const std::string cleaned = remove_block(added);
  check(cleaned == remove_block(text), "removing the block gives back what was there without ovl");
  check(!has_block(cleaned) || has_block(remove_block(text)), "no new block survives removal");
  // A file ovl never touched (no marker, no hidden lines) comes back byte for byte.
  if (!has_block(text) && text.find(kHiddenPrefix) == std::string_view::npos)
    check(cleaned == text, "restore is byte-identical");
  return 0;
}
