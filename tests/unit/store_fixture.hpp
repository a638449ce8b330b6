// Shared by the store tests: temp dirs, keys, secrets and a coordinator store fixture.
#pragma once
#include <doctest/doctest.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/crypto/blake2s.hpp"
#include "store/coordinator_store.hpp"
#include "store/db.hpp"
#include "store/kv.hpp"
#include "store/schema.hpp"

using namespace ovl;
using control::EnrollError;
using control::EnrollRequest;
using control::InviteOptions;
using control::NodeRecord;
using store::CoordinatorStore;
using store::Db;

namespace {

// A fresh directory under /tmp, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ovl-store-test-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

crypto::PublicKey key_n(int n) {
  crypto::PublicKey k{};
  k[0] = 0x42;
  k[1] = static_cast<uint8_t>(n);
  k[2] = static_cast<uint8_t>(n >> 8);
  return k;
}

std::array<uint8_t, 16> secret_n(int n) {
  std::array<uint8_t, 16> s{};
  s.fill(static_cast<uint8_t>(0xa0 + n));
  return s;
}

std::array<uint8_t, 32> hash_of(const std::array<uint8_t, 16>& secret) { return crypto::blake2s({secret}); }

control::NetworkInfo make_network(const char* cidr) {
  control::NetworkInfo n;
  n.id = "0123456789abcdef0123456789abcdef";
  n.name = "home";
  n.cidr = *net::Prefix::parse(cidr);
  n.created_unix = 1000;
  return n;
}

std::string integrity(Db& db) {
  auto st = db.prepare("PRAGMA integrity_check");
  return st.step() ? st.col_text(0) : "";
}

// Turns the database at `path` (made by this version) back into schema
// version 1 holding one network, as the first release left it: the tables of
// later versions go, the network row loses its later columns.
void make_v1_database(const std::string& path, const char* id, const char* name, const char* cidr, int created) {
  Db db = Db::open(path);
  db.exec("DROP TABLE policies; DROP TABLE node_routes; DROP TABLE revoked_keys; DROP TABLE network");
  db.exec("CREATE TABLE network (singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1), "
          "id TEXT NOT NULL, name TEXT NOT NULL, cidr TEXT NOT NULL, created INTEGER NOT NULL)");
  db.exec("INSERT INTO network (id, name, cidr, created) VALUES ('" + std::string(id) + "', '" + name + "', '" +
          cidr + "', " + std::to_string(created) + ")");
  db.exec("PRAGMA user_version = 1");
}

int64_t count(Db& db, const char* table) {
  auto st = db.prepare(std::string("SELECT count(*) FROM ") + table);
  st.step();
  return st.col_int(0);
}

const NodeRecord* as_node(const std::variant<NodeRecord, EnrollError>& r) { return std::get_if<NodeRecord>(&r); }
[[maybe_unused]] std::optional<EnrollError> as_error(const std::variant<NodeRecord, EnrollError>& r) {
  if (auto* e = std::get_if<EnrollError>(&r)) return *e;
  return std::nullopt;
}

// A coordinator database with one network, ready for invites.
struct Coord {
  TempDir dir;
  std::string path = dir.file("ovl.db");
  Db db = Db::open(path);
  crypto::SeededRng rng{7};
  CoordinatorStore store{db, rng};

  explicit Coord(const char* cidr = "10.9.0.0/24") { store.create_network(make_network(cidr)); }

  // An invite whose secret is secret_n(n).
  control::InviteRecord invite(int n, InviteOptions opts = {}, int64_t now = 2000) {
    return store.create_invite(opts, hash_of(secret_n(n)), now);
  }
  EnrollRequest request(const control::InviteRecord& inv, int secret, int key, std::string name = "") {
    EnrollRequest r;
    r.invite_id = inv.id;
    r.secret_hash = hash_of(secret_n(secret));
    r.public_key = key_n(key);
    r.requested_name = std::move(name);
    return r;
  }
  control::InviteRecord reload(const std::string& id) {
    for (auto& i : store.invites())
      if (i.id == id) return i;
    FAIL("no invite " << id);
    return {};
  }
};

}  // namespace
