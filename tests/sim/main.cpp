#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "engine/log.hpp"

int main(int argc, char** argv) {
  ovl::log::threshold() = ovl::log::Level::warn;  // the engine's info lines would drown the report
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
