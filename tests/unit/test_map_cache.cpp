// The node's cached map (store/map_cache) and the coordinator store's
// placement cache: both keep per-change work small, and must stay exact.
#include "store/map_cache.hpp"
#include "store_fixture.hpp"

namespace {

control::PeerInfo peer(int n, const std::string& name) {
  control::PeerInfo p;
  p.id = n;
  p.name = name;
  p.ip = net::IpAddr::v4(100, 83, 0, static_cast<uint8_t>(n));
  p.public_key = key_n(n);
  p.endpoints = {*net::Endpoint::parse("192.0.2.1:" + std::to_string(51820 + n))};
  p.groups = {"g"};
  p.online = n % 2 == 0;
  return p;
}

control::NetState state_with(std::initializer_list<int> ids) {
  control::NetState st;
  control::Welcome w;
  w.self = peer(1, "self");
  w.network = {"0123", "home", "home.ovl", *net::Prefix::parse("100.83.0.0/16")};
  st.welcome = w;
  st.version = 7;
  for (int i : ids) st.peers[key_n(i)] = peer(i, "p" + std::to_string(i));
  return st;
}

}  // namespace

TEST_SUITE("store") {

TEST_CASE("map cache: a full save loads back equal") {
  TempDir dir;
  Db db = Db::open(dir.file("node.db"));
  CHECK_FALSE(store::load_map(db));
  auto st = state_with({1, 2, 3, 4});
  store::save_map(db, st);
  auto back = store::load_map(db);
  REQUIRE(back);
  CHECK(back->version == 7);
  CHECK(back->welcome->self == st.welcome->self);
  CHECK(back->peers == st.peers);
}

TEST_CASE("map cache: saving only what a delta changed gives the same cache as a full save") {
  TempDir dir;
  Db db = Db::open(dir.file("node.db"));
  auto st = state_with({1, 2, 3, 4, 5});
  store::save_map(db, st);

  // A delta: 2 removed, 3 renamed, 6 joined.
  st.peers.erase(key_n(2));
  st.peers[key_n(3)].name = "renamed";
  st.peers[key_n(6)] = peer(6, "p6");
  st.version = 8;
  control::MapChanges ch;
  ch.removed = {key_n(2)};
  ch.upserted = {key_n(3), key_n(6)};
  store::save_map_changes(db, st, ch);

  auto back = store::load_map(db);
  REQUIRE(back);
  CHECK(back->version == 8);
  CHECK(back->peers == st.peers);
  // One row per peer plus the header: nothing else was rewritten or left over.
  CHECK(count(db, "kv") == static_cast<int64_t>(st.peers.size()) + 1);
}

TEST_CASE("map cache: the older single-row form still loads, and a full save converts it") {
  TempDir dir;
  Db db = Db::open(dir.file("node.db"));
  auto st = state_with({1, 2, 3});
  store::kv_put(db, "node.netstate", st.to_json());  // what earlier versions wrote
  auto back = store::load_map(db);
  REQUIRE(back);
  CHECK(back->peers == st.peers);
  store::save_map(db, *back);
  auto again = store::load_map(db);
  REQUIRE(again);
  CHECK(again->peers == st.peers);
}

TEST_CASE("map cache: a corrupted peer row makes the cache unreadable, not half-read") {
  TempDir dir;
  Db db = Db::open(dir.file("node.db"));
  store::save_map(db, state_with({1, 2}));
  store::kv_put(db, "node.peer." + crypto::to_base64(key_n(2)), "{not json");
  CHECK_FALSE(store::load_map(db));
}

TEST_CASE("store: placement stays exact when another connection adds and removes nodes") {
  Coord c("100.83.0.0/16");
  auto inv = c.invite(1, {.uses = -1});
  auto a = c.store.enroll(c.request(inv, 1, 1, "a"), 2000);
  REQUIRE(as_node(a));
  CHECK(as_node(a)->ip.str() == "100.83.0.1");

  // A second process on the same file (its own connection) enrolls and removes.
  Db other_db = Db::open(c.path);
  CoordinatorStore other(other_db);
  auto b = other.enroll(c.request(inv, 1, 2, "a"), 2001);
  REQUIRE(as_node(b));
  CHECK(as_node(b)->ip.str() == "100.83.0.2");
  CHECK(as_node(b)->name == "a-2");

  auto d = c.store.enroll(c.request(inv, 1, 3, "a"), 2002);  // must see b's address and name
  REQUIRE(as_node(d));
  CHECK(as_node(d)->ip.str() == "100.83.0.3");
  CHECK(as_node(d)->name == "a-3");

  REQUIRE(other.remove_node(as_node(a)->id));  // frees .1 and "a" behind c.store's back
  auto e = c.store.enroll(c.request(inv, 1, 4, "a"), 2003);
  REQUIRE(as_node(e));
  CHECK(as_node(e)->ip.str() == "100.83.0.1");
  CHECK(as_node(e)->name == "a");

  // Its own removal and rename are seen without a reread.
  REQUIRE(c.store.remove_node(as_node(d)->id));
  REQUIRE(c.store.rename_node(as_node(e)->id, "renamed"));
  auto f = c.store.enroll(c.request(inv, 1, 5, "a"), 2004);
  REQUIRE(as_node(f));
  CHECK(as_node(f)->ip.str() == "100.83.0.3");
  CHECK(as_node(f)->name == "a");
  CHECK(integrity(c.db) == "ok");
}

}  // TEST_SUITE
