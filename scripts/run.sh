#!/usr/bin/env bash
# One entry point for people and CI:  scripts/run.sh deps|build|check|demo|bench|fuzz|soak
#   deps   install the Debian packages that are missing (needs root)
#   build  release build (static ovl binary) in build/
#   check  deps + build + every test (unit, sim, e2e, corpus replay), unit+sim again under
#          ASan/UBSan, and a bounded fuzz run of every fuzz target
#   demo   deps + build + the demo network in namespaces
#   bench  deps + build + throughput/RTT benchmark against wireguard-go and raw veth
#   soak   deps + build + the 10-minute soak (CTest label `soak`; check runs the 1-minute one)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}

BUILD_PKGS="cmake ninja-build g++ clang libclang-rt-14-dev pkg-config libsodium-dev libb2-dev libasio-dev libcli11-dev \
  libsqlite3-dev libtomlplusplus-dev doctest-dev nlohmann-json3-dev file"
RUN_PKGS="iproute2 iputils-ping nftables wireguard-go wireguard-tools iperf3 stun-client python3 procps kmod"

deps() {
  local missing=()
  for p in $BUILD_PKGS $RUN_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "missing packages: ${missing[*]} (run as root to install them)" >&2
      exit 1
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

build() {
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j "$JOBS"
}

build_fuzz() {
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOVL_FUZZ=ON \
    -DFUZZ_SECONDS="${FUZZ_SECONDS:-15}" >/dev/null
  cmake --build build-fuzz -j "$JOBS"
}

# Unit and sim tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
check_sanitized() {
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOVL_SANITIZE=ON >/dev/null
  cmake --build build-asan -j "$JOBS" --target unit_tests sim_tests
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -L 'unit|sim' -E '^(corpus_|cli_)' --output-on-failure
}

need_root() {
  if [ "$(id -u)" != 0 ]; then echo "this needs root (network namespaces, TUN)" >&2; exit 1; fi
}

case "${1:-}" in
  deps) deps ;;
  build) deps; build ;;
  check)
    need_root; deps; build
    ctest --test-dir build --output-on-failure -j1 -LE soak
    check_sanitized
    build_fuzz
    ctest --test-dir build-fuzz -L fuzz --output-on-failure -j "$JOBS"
    ;;
  fuzz) deps; build_fuzz; ctest --test-dir build-fuzz -L fuzz --output-on-failure -j "$JOBS" ;;
  demo) need_root; deps; build; bash tests/e2e/demo.sh ;;
  bench) need_root; deps; build; bash bench/bench.sh "${@:2}" ;;
  soak) need_root; deps; build; ctest --test-dir build -L soak --output-on-failure ;;
  *) echo "usage: $0 deps|build|check|demo|bench|fuzz|soak" >&2; exit 2 ;;
esac
