// The coordinator registry on SQLite: enrollment, addresses, names, invites, races.
#include "store_fixture.hpp"

TEST_SUITE("store") {


// ------------------------------------------------------------------ network

TEST_CASE("store: network is created once and read back") {
  TempDir dir;
  Db db = Db::open(dir.file("ovl.db"));
  CoordinatorStore s(db);
  CHECK_FALSE(CoordinatorStore::has_network(db));
  CHECK_THROWS_AS(s.network(), store::Error);
  CHECK_THROWS_AS(s.create_network(make_network("fd00::/64")), std::invalid_argument);
  CHECK_THROWS_AS(s.create_network(make_network("10.0.0.0/31")), std::invalid_argument);
  s.create_network(make_network("100.83.7.9/16"));
  CHECK(CoordinatorStore::has_network(db));
  auto n = s.network();
  CHECK(n.id == "0123456789abcdef0123456789abcdef");
  CHECK(n.name == "home");
  CHECK(n.cidr.str() == "100.83.0.0/16");  // host bits cleared
  CHECK(n.created_unix == 1000);
  CHECK_THROWS_AS(s.create_network(make_network("10.0.0.0/8")), store::Error);
  CHECK(s.network().cidr.str() == "100.83.0.0/16");
  REQUIRE_FALSE(s.events().empty());
  CHECK(s.events().front().kind == "network_created");
}

// ------------------------------------------------------------------ enroll

TEST_CASE("store: enroll happy path") {
  Coord c;
  auto inv = c.invite(1, {.uses = 1, .expires_unix = 5000, .groups = {"servers", "admins"}, .ephemeral = true});
  CHECK(inv.id.size() == 16);
  CHECK(inv.uses_left == 1);
  auto r = c.store.enroll(c.request(inv, 1, 1, "Laptop"), 3000);
  const NodeRecord* n = as_node(r);
  REQUIRE(n);
  CHECK(n->id > 0);
  CHECK(n->name == "laptop");
  CHECK(n->ip.str() == "10.9.0.1");  // the first node gets .1
  CHECK(n->public_key == key_n(1));
  CHECK(n->groups == std::vector<std::string>{"admins", "servers"});
  CHECK(n->ephemeral);
  CHECK(n->created_unix == 3000);
  CHECK(n->last_seen_unix == 0);

  auto again = c.store.node_by_key(key_n(1));
  REQUIRE(again);
  CHECK(again->name == "laptop");
  CHECK(again->groups == n->groups);
  CHECK(c.store.node_by_name("laptop")->id == n->id);
  CHECK_FALSE(c.store.node_by_name("nobody"));
  CHECK_FALSE(c.store.node_by_key(key_n(99)));

  auto after = c.reload(inv.id);
  CHECK(after.uses_left == 0);
  CHECK(after.used == 1);
  CHECK(after.opts.uses == 1);
  auto ev = c.store.events(1);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == "node_enrolled");
  CHECK(ev[0].detail.find("laptop") != std::string::npos);
  CHECK(ev[0].detail.find(inv.id) != std::string::npos);
}

TEST_CASE("store: each refused enrollment says why and changes nothing") {
  Coord c;
  auto single = c.invite(1);
  auto expiring = c.invite(2, {.uses = 5, .expires_unix = 4000});
  auto revoked = c.invite(3, {.uses = 5});
  REQUIRE(c.store.revoke_invite(revoked.id));
  const auto nodes_before = count(c.db, "nodes");

  auto expect = [&](const EnrollRequest& req, int64_t now, EnrollError want) {
    auto r = c.store.enroll(req, now);
    REQUIRE(as_error(r));
    CHECK(*as_error(r) == want);
    CHECK(count(c.db, "nodes") == nodes_before);
  };
  auto unknown = c.request(single, 1, 10);
  unknown.invite_id = "ffffffffffffffff";
  expect(unknown, 3000, EnrollError::unknown_invite);
  expect(c.request(single, 9, 11), 3000, EnrollError::unknown_invite);  // wrong secret
  expect(c.request(expiring, 2, 12), 4000, EnrollError::expired);       // expiry is exclusive
  expect(c.request(expiring, 2, 13), 9999, EnrollError::expired);
  expect(c.request(revoked, 3, 14), 3000, EnrollError::revoked);
  CHECK(c.reload(single.id).uses_left == 1);
  CHECK(c.reload(expiring.id).uses_left == 5);

  REQUIRE(as_node(c.store.enroll(c.request(expiring, 2, 15), 3999)));  // just in time
  REQUIRE(as_node(c.store.enroll(c.request(single, 1, 16), 3000)));
  auto used = c.store.enroll(c.request(single, 1, 17), 3000);
  REQUIRE(as_error(used));
  CHECK(*as_error(used) == EnrollError::used_up);
  CHECK(c.reload(single.id).used == 1);
  CHECK(count(c.db, "nodes") == nodes_before + 2);
}

TEST_CASE("store: a reusable invite admits many; limited ones count down") {
  Coord c;
  auto reusable = c.invite(1, {.uses = -1});
  for (int i = 0; i < 12; ++i) REQUIRE(as_node(c.store.enroll(c.request(reusable, 1, i), 3000)));
  auto r = c.reload(reusable.id);
  CHECK(r.uses_left == -1);
  CHECK(r.used == 12);
  CHECK(r.opts.uses == -1);

  auto three = c.invite(2, {.uses = 3});
  for (int i = 0; i < 3; ++i) REQUIRE(as_node(c.store.enroll(c.request(three, 2, 100 + i), 3000)));
  CHECK(as_error(c.store.enroll(c.request(three, 2, 200), 3000)) == EnrollError::used_up);
  auto t = c.reload(three.id);
  CHECK(t.uses_left == 0);
  CHECK(t.used == 3);
  CHECK(t.opts.uses == 3);
}

TEST_CASE("store: re-enrolling an enrolled key returns its record and consumes nothing") {
  Coord c;
  auto inv = c.invite(1, {.uses = 2});
  auto first = c.store.enroll(c.request(inv, 1, 1, "laptop"), 3000);
  REQUIRE(as_node(first));
  auto second = c.store.enroll(c.request(inv, 1, 1, "other-name"), 3100);
  REQUIRE(as_node(second));
  CHECK(as_node(second)->id == as_node(first)->id);
  CHECK(as_node(second)->name == "laptop");
  CHECK(c.reload(inv.id).uses_left == 1);

  // A retry after a lost reply, on a single-use invite already spent by it.
  auto single = c.invite(2);
  auto a = c.store.enroll(c.request(single, 2, 5), 3000);
  REQUIRE(as_node(a));
  auto b = c.store.enroll(c.request(single, 2, 5), 3001);
  REQUIRE(as_node(b));
  CHECK(as_node(b)->ip == as_node(a)->ip);
  // The secret still has to match.
  CHECK(as_error(c.store.enroll(c.request(single, 9, 5), 3001)) == EnrollError::unknown_invite);

  // Once removed, the spent invite cannot bring the key back.
  REQUIRE(c.store.remove_node(as_node(a)->id));
  CHECK(as_error(c.store.enroll(c.request(single, 2, 5), 3002)) == EnrollError::used_up);
  CHECK_FALSE(c.store.node_by_key(key_n(5)));
}

TEST_CASE("store: no secret material reaches the event log") {
  Coord c;
  auto inv = c.invite(1, {.uses = 2, .groups = {"g"}});
  REQUIRE(as_node(c.store.enroll(c.request(inv, 1, 1), 3000)));
  const auto secret = secret_n(1);
  const auto h = hash_of(secret);
  const std::string secret_b64 = crypto::to_base64(secret), hash_b64 = crypto::to_base64(h);
  const std::string hash_b64url = crypto::to_base64url(h), secret_b64url = crypto::to_base64url(secret);
  for (const auto& e : c.store.events(1000)) {
    CAPTURE(e.detail);
    for (const auto& s : {secret_b64, hash_b64, hash_b64url, secret_b64url}) CHECK(e.detail.find(s) == std::string::npos);
  }
}

// ------------------------------------------------------------------ addresses

TEST_CASE("store: addresses are the lowest free host, reused after removal") {
  Coord c;
  auto inv = c.invite(1, {.uses = -1});
  std::vector<NodeRecord> n;
  for (int i = 0; i < 5; ++i) n.push_back(*as_node(c.store.enroll(c.request(inv, 1, i), 3000)));
  for (int i = 0; i < 5; ++i) CHECK(n[i].ip.str() == "10.9.0." + std::to_string(i + 1));
  REQUIRE(c.store.remove_node(n[1].id));
  REQUIRE(c.store.remove_node(n[3].id));
  CHECK_FALSE(c.store.remove_node(n[3].id));
  auto a = *as_node(c.store.enroll(c.request(inv, 1, 10), 3000));
  auto b = *as_node(c.store.enroll(c.request(inv, 1, 11), 3000));
  auto d = *as_node(c.store.enroll(c.request(inv, 1, 12), 3000));
  CHECK(a.ip.str() == "10.9.0.2");
  CHECK(b.ip.str() == "10.9.0.4");
  CHECK(d.ip.str() == "10.9.0.6");
  // Ids are never reused, though addresses are.
  CHECK(a.id > n[4].id);
  CHECK(count(c.db, "node_groups") == 0);
}

TEST_CASE("store: a full network refuses with network_full and consumes nothing") {
  Coord c("192.168.5.0/30");  // hosts .1 and .2; .0 and .3 are never handed out
  auto inv = c.invite(1, {.uses = 5});
  auto a = c.store.enroll(c.request(inv, 1, 1), 3000);
  auto b = c.store.enroll(c.request(inv, 1, 2), 3000);
  REQUIRE(as_node(a));
  REQUIRE(as_node(b));
  CHECK(as_node(a)->ip.str() == "192.168.5.1");
  CHECK(as_node(b)->ip.str() == "192.168.5.2");
  CHECK(as_error(c.store.enroll(c.request(inv, 1, 3), 3000)) == EnrollError::network_full);
  CHECK(c.reload(inv.id).uses_left == 3);
  CHECK(count(c.db, "nodes") == 2);
  CHECK_THROWS_AS(c.store.add_node(key_n(4), "x", 3000), store::Error);
  // Removing one frees its address.
  REQUIRE(c.store.remove_node(as_node(a)->id));
  auto d = c.store.enroll(c.request(inv, 1, 3), 3000);
  REQUIRE(as_node(d));
  CHECK(as_node(d)->ip.str() == "192.168.5.1");
}

TEST_CASE("store: add_node places the coordinator's own node without an invite") {
  Coord c;
  auto s = c.store.add_node(key_n(1), "Server.example.com", 1500);
  CHECK(s.name == "server");
  CHECK(s.ip.str() == "10.9.0.1");
  CHECK(s.groups.empty());
  CHECK_FALSE(s.ephemeral);
  auto again = c.store.add_node(key_n(1), "whatever", 1600);
  CHECK(again.id == s.id);
  CHECK(c.store.add_node(key_n(2), "", 1600).name == "node");
  CHECK(c.store.events(1).front().kind == "node_added");
}

// ------------------------------------------------------------------ names

TEST_CASE("store: names are made unique with -2, -3...") {
  Coord c;
  auto inv = c.invite(1, {.uses = -1});
  auto name_of = [&](int key, const std::string& want) {
    auto r = c.store.enroll(c.request(inv, 1, key, want), 3000);
    REQUIRE(as_node(r));
    return as_node(r)->name;
  };
  CHECK(name_of(1, "laptop") == "laptop");
  CHECK(name_of(2, "laptop") == "laptop-2");
  CHECK(name_of(3, "Laptop.local") == "laptop-3");
  CHECK(name_of(4, "laptop-2") == "laptop-2-2");
  REQUIRE(c.store.remove_node(c.store.node_by_name("laptop-2")->id));
  CHECK(name_of(5, "laptop") == "laptop-2");  // the lowest free suffix
  // A 63-char name is cut to make room for its suffix.
  const std::string longest(63, 'x');
  CHECK(name_of(6, longest) == longest);
  auto suffixed = name_of(7, longest);
  CHECK(suffixed == std::string(61, 'x') + "-2");
  CHECK(control::valid_node_name(suffixed));
  // A base that would end in '-' once cut drops the '-'.
  const std::string dashy = std::string(60, 'y') + "-zz";
  CHECK(name_of(8, dashy) == dashy);
  CHECK(name_of(9, dashy) == std::string(60, 'y') + "-2");
}

TEST_CASE("store: an empty requested name falls back to the invite's name, then to node") {
  Coord c;
  auto named = c.invite(1, {.uses = -1, .name = "Build Box"});
  auto plain = c.invite(2, {.uses = -1});
  CHECK(as_node(c.store.enroll(c.request(named, 1, 1, ""), 3000))->name == "build-box");
  CHECK(as_node(c.store.enroll(c.request(named, 1, 2, ""), 3000))->name == "build-box-2");
  CHECK(as_node(c.store.enroll(c.request(named, 1, 3, "mine"), 3000))->name == "mine");
  CHECK(as_node(c.store.enroll(c.request(plain, 2, 4, ""), 3000))->name == "node");
  CHECK(as_node(c.store.enroll(c.request(plain, 2, 5, "!!!"), 3000))->name == "node-2");
}

TEST_CASE("store: rename validates the name and refuses conflicts") {
  Coord c;
  auto a = c.store.add_node(key_n(1), "alpha", 1000);
  auto b = c.store.add_node(key_n(2), "beta", 1000);
  CHECK_FALSE(c.store.rename_node(a.id, "beta"));
  CHECK_FALSE(c.store.rename_node(a.id, "Bad Name"));
  CHECK_FALSE(c.store.rename_node(a.id, ""));
  CHECK_FALSE(c.store.rename_node(a.id, "-x"));
  CHECK_FALSE(c.store.rename_node(a.id, std::string(64, 'a')));
  CHECK_FALSE(c.store.rename_node(9999, "gamma"));
  CHECK(c.store.rename_node(a.id, "alpha"));  // a no-op is fine
  CHECK(c.store.rename_node(a.id, "gamma"));
  CHECK(c.store.node_by_name("gamma")->id == a.id);
  CHECK_FALSE(c.store.node_by_name("alpha"));
  CHECK(c.store.node_by_name("beta")->id == b.id);
  CHECK(c.store.events(1).front().kind == "node_renamed");
  // The old name is free again.
  CHECK(c.store.rename_node(b.id, "alpha"));
}

// ------------------------------------------------------------------ other Registry calls

TEST_CASE("store: endpoints, last_seen and the node list") {
  Coord c;
  auto inv = c.invite(1, {.uses = -1, .groups = {"b", "a", "b"}});
  auto n1 = *as_node(c.store.enroll(c.request(inv, 1, 1, "one"), 3000));
  auto n2 = *as_node(c.store.enroll(c.request(inv, 1, 2, "two"), 3000));
  CHECK(n1.groups == std::vector<std::string>{"a", "b"});
  std::vector<net::Endpoint> eps = {*net::Endpoint::parse("192.0.2.1:51820"), *net::Endpoint::parse("[2001:db8::1]:4242")};
  c.store.set_endpoints(n1.id, eps);
  c.store.touch(n1.id, 4000);
  auto all = c.store.nodes();
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == n1.id);
  CHECK(all[0].endpoints == eps);
  CHECK(all[0].last_seen_unix == 4000);
  CHECK(all[0].groups == std::vector<std::string>{"a", "b"});
  CHECK(all[1].id == n2.id);
  CHECK(all[1].endpoints.empty());
  CHECK(all[1].last_seen_unix == 0);
  c.store.set_endpoints(n1.id, {});
  CHECK(c.store.node_by_key(key_n(1))->endpoints.empty());
}

TEST_CASE("store: invites are listed, validated and revoked") {
  Coord c;
  CHECK_THROWS_AS(c.invite(1, {.uses = 0}), std::invalid_argument);
  CHECK_THROWS_AS(c.invite(1, {.uses = -2}), std::invalid_argument);
  CHECK_THROWS_AS(c.invite(1, {.groups = {""}}), std::invalid_argument);
  CHECK_THROWS_AS(c.invite(1, {.groups = {"a\nb"}}), std::invalid_argument);
  CHECK(c.store.invites().empty());

  auto a = c.invite(1, {.uses = 3, .expires_unix = 9000, .groups = {"x", "y"}, .ephemeral = true, .name = "ci"}, 100);
  auto b = c.invite(2, {}, 200);
  CHECK(a.id != b.id);
  auto list = c.store.invites();
  REQUIRE(list.size() == 2);
  CHECK(list[0].id == a.id);
  CHECK(list[0].secret_hash == hash_of(secret_n(1)));
  CHECK(list[0].opts.uses == 3);
  CHECK(list[0].opts.expires_unix == 9000);
  CHECK(list[0].opts.groups == std::vector<std::string>{"x", "y"});
  CHECK(list[0].opts.ephemeral);
  CHECK(list[0].opts.name == "ci");
  CHECK(list[0].created_unix == 100);
  CHECK_FALSE(list[0].revoked);
  CHECK(list[1].id == b.id);
  CHECK(list[1].opts.uses == 1);

  CHECK(c.store.revoke_invite(a.id));
  CHECK(c.store.revoke_invite(a.id));  // already revoked: still there, still true
  CHECK_FALSE(c.store.revoke_invite("0000000000000000"));
  CHECK(c.reload(a.id).revoked);
  int revocations = 0;
  for (auto& e : c.store.events(100)) revocations += e.kind == "invite_revoked";
  CHECK(revocations == 1);
}

// ------------------------------------------------------------------ concurrency

namespace {

// `threads` enrollments on one invite, each through its own connection,
// released at the same moment.
std::vector<std::variant<NodeRecord, EnrollError>> race(const std::string& path, const control::InviteRecord& inv,
                                                        int threads, std::vector<std::string>& failures) {
  std::vector<std::variant<NodeRecord, EnrollError>> results(static_cast<size_t>(threads), EnrollError::name_taken);
  std::vector<std::string> errors(static_cast<size_t>(threads));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      try {
        Db db = Db::open(path);
        CoordinatorStore s(db);
        EnrollRequest req;
        req.invite_id = inv.id;
        req.secret_hash = hash_of(secret_n(1));
        req.public_key = key_n(1000 + i);
        req.requested_name = "racer";
        ++ready;
        while (!go.load()) std::this_thread::yield();
        results[static_cast<size_t>(i)] = s.enroll(req, 3000);
      } catch (const std::exception& e) {
        ++ready;
        errors[static_cast<size_t>(i)] = e.what();
      }
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  go = true;
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (!e.empty()) failures.push_back(e);
  return results;
}

}  // namespace

TEST_CASE("store: 20 connections creating the same new database at once all succeed") {
  TempDir dir;
  const auto path = dir.file("ovl.db");
  std::atomic<bool> go{false};
  std::atomic<int> ok{0};
  std::vector<std::string> errors(20);
  std::vector<std::thread> pool;
  for (size_t i = 0; i < 20; ++i) {
    pool.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      try {
        Db db = Db::open(path);
        store::kv_put(db, "k" + std::to_string(i), "v");
        ++ok;
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  go = true;
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (!e.empty()) MESSAGE(e);
  CHECK(ok == 20);
  Db db = Db::open(path);
  CHECK(db.user_version() == store::schema_version());
  CHECK(count(db, "kv") == 20);
  CHECK(integrity(db) == "ok");
}

TEST_CASE("store: 20 concurrent joins on a single-use invite admit exactly one") {
  Coord c("100.83.0.0/16");
  auto inv = c.invite(1);
  std::vector<std::string> failures;
  auto results = race(c.path, inv, 20, failures);
  CHECK(failures.empty());
  for (auto& f : failures) MESSAGE(f);
  int ok = 0, used_up = 0;
  for (auto& r : results) {
    if (as_node(r)) ++ok;
    else if (as_error(r) == EnrollError::used_up) ++used_up;
  }
  CHECK(ok == 1);
  CHECK(used_up == 19);
  CHECK(c.store.nodes().size() == 1);
  auto after = c.reload(inv.id);
  CHECK(after.used == 1);
  CHECK(after.uses_left == 0);
  CHECK(integrity(c.db) == "ok");
}

TEST_CASE("store: 20 concurrent joins on a 5-use invite admit exactly five, each with its own address") {
  Coord c("100.83.0.0/16");
  auto inv = c.invite(1, {.uses = 5});
  std::vector<std::string> failures;
  auto results = race(c.path, inv, 20, failures);
  CHECK(failures.empty());
  for (auto& f : failures) MESSAGE(f);
  int ok = 0, used_up = 0;
  std::set<std::string> ips, names;
  for (auto& r : results) {
    if (auto* n = as_node(r)) {
      ++ok;
      ips.insert(n->ip.str());
      names.insert(n->name);
    } else if (as_error(r) == EnrollError::used_up) {
      ++used_up;
    }
  }
  CHECK(ok == 5);
  CHECK(used_up == 15);
  CHECK(ips == std::set<std::string>{"100.83.0.1", "100.83.0.2", "100.83.0.3", "100.83.0.4", "100.83.0.5"});
  CHECK(names == std::set<std::string>{"racer", "racer-2", "racer-3", "racer-4", "racer-5"});
  CHECK(c.store.nodes().size() == 5);
  auto after = c.reload(inv.id);
  CHECK(after.used == 5);
  CHECK(after.uses_left == 0);
  CHECK(integrity(c.db) == "ok");
}

}  // TEST_SUITE
