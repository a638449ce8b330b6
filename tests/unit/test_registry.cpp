#include <doctest/doctest.h>

#include <string>

#include "engine/control/registry.hpp"

using ovl::control::describe;
using ovl::control::EnrollError;
using ovl::control::sanitize_node_name;
using ovl::control::valid_node_name;

TEST_SUITE("registry") {

TEST_CASE("registry: valid node names are DNS labels") {
  for (const char* s : {"a", "laptop", "laptop-2", "0", "123", "a-b-c", "x1y2"}) {
    CAPTURE(std::string(s));
    CHECK(valid_node_name(s));
  }
  CHECK(valid_node_name(std::string(63, 'a')));
  CHECK_FALSE(valid_node_name(std::string(64, 'a')));
  for (const char* s : {"", "-a", "a-", "-", "Laptop", "lap top", "lap_top", "lap.top", "l\xc3\xa4ptop", "a\n"}) {
    CAPTURE(std::string(s));
    CHECK_FALSE(valid_node_name(s));
  }
  CHECK_FALSE(valid_node_name(std::string("a\0b", 3)));
}

TEST_CASE("registry: sanitize_node_name turns host names into labels") {
  CHECK(sanitize_node_name("laptop") == "laptop");
  CHECK(sanitize_node_name("My-Laptop") == "my-laptop");
  CHECK(sanitize_node_name("laptop.example.com") == "laptop");
  CHECK(sanitize_node_name(".hidden.local") == "hidden");
  CHECK(sanitize_node_name("My  Laptop_2") == "my-laptop-2");
  CHECK(sanitize_node_name("--a--b--") == "a-b");
  CHECK(sanitize_node_name("J\xc3\xbcrgen's PC") == "j-rgen-s-pc");
  CHECK(sanitize_node_name("") == "node");
  CHECK(sanitize_node_name("...") == "node");
  CHECK(sanitize_node_name("___") == "node");
  CHECK(sanitize_node_name(std::string("a\0b", 3)) == "a-b");
  // Cut to 63 without leaving a trailing '-'.
  std::string long_name = std::string(62, 'a') + "-b";
  CHECK(sanitize_node_name(long_name) == std::string(62, 'a'));
  CHECK(sanitize_node_name(std::string(100, 'Z')) == std::string(63, 'z'));
}

TEST_CASE("registry: sanitize_node_name always yields a valid name") {
  const std::string samples[] = {"", "-", "A", "a.b.c", "über", "\xff\xfe", "x_y z", std::string(200, '-') + "q",
                                 "host-", "9lives", "a..b", "EXAMPLE.COM."};
  for (const auto& s : samples) {
    CAPTURE(s);
    CHECK(valid_node_name(sanitize_node_name(s)));
  }
  // Every single byte value, alone and around a letter.
  for (int c = 0; c < 256; ++c) {
    std::string one(1, static_cast<char>(c));
    CHECK(valid_node_name(sanitize_node_name(one)));
    CHECK(valid_node_name(sanitize_node_name("a" + one + "b")));
  }
}

TEST_CASE("registry: every enroll error has its own sentence") {
  const EnrollError all[] = {EnrollError::unknown_invite, EnrollError::expired,      EnrollError::revoked,
                             EnrollError::used_up,        EnrollError::network_full, EnrollError::name_taken};
  for (auto a : all) {
    std::string s = describe(a);
    CHECK(s.size() > 10);
    for (auto b : all)
      if (a != b) CHECK(s != describe(b));
  }
}

}  // TEST_SUITE
