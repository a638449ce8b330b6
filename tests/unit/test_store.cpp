// The SQLite layer: files, migrations, transactions, errors, kv.
#include "store_fixture.hpp"

TEST_SUITE("store") {

// ------------------------------------------------------------------ Db

TEST_CASE("store: open creates a 0600 WAL database at the current schema") {
  TempDir dir;
  const auto path = dir.file("ovl.db");
  {
    Db db = Db::open(path);
    CHECK(db.user_version() == store::schema_version());
    CHECK_FALSE(db.read_only());
    {
      auto jm = db.prepare("PRAGMA journal_mode");
      REQUIRE(jm.step());
      CHECK(jm.col_text(0) == "wal");
      auto fk = db.prepare("PRAGMA foreign_keys");
      REQUIRE(fk.step());
      CHECK(fk.col_int(0) == 1);
    }
    store::kv_put(db, "k", "v");  // makes the -wal file exist
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    if (::stat((path + "-wal").c_str(), &st) == 0) CHECK((st.st_mode & 0777) == 0600);
    if (::stat((path + "-shm").c_str(), &st) == 0) CHECK((st.st_mode & 0777) == 0600);
  }
  // Even under a permissive umask.
  mode_t old = ::umask(0);
  { Db db = Db::open(dir.file("other.db")); }
  ::umask(old);
  struct stat st {};
  REQUIRE(::stat(dir.file("other.db").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("store: reopening is idempotent and keeps the data") {
  TempDir dir;
  const auto path = dir.file("ovl.db");
  { Db db = Db::open(path); store::kv_put(db, "a", "1"); }
  for (int i = 0; i < 3; ++i) {
    Db db = Db::open(path);
    CHECK(db.user_version() == store::schema_version());
    CHECK(store::kv_get(db, "a") == "1");
    CHECK(integrity(db) == "ok");
  }
}

TEST_CASE("store: migrations apply once, in order, all or nothing") {
  TempDir dir;
  const auto path = dir.file("ovl.db");
  std::vector<std::string_view> steps(store::schema_migrations().begin(), store::schema_migrations().end());
  const int base = static_cast<int>(steps.size());
  {
    Db db = Db::open(path);
    // A step that fails takes the whole batch down with it.
    auto bad = steps;
    bad.push_back("CREATE TABLE extra (x INTEGER)");
    bad.push_back("THIS IS NOT SQL");
    CHECK_THROWS_AS(db.migrate(bad), store::Error);
    CHECK(db.user_version() == base);
    CHECK_FALSE(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'extra'").step());
    // A good batch lands; running it again does nothing (CREATE TABLE would fail if re-run).
    steps.push_back("CREATE TABLE extra (x INTEGER)");
    steps.push_back("INSERT INTO extra VALUES (42)");
    db.migrate(steps);
    CHECK(db.user_version() == base + 2);
    db.migrate(steps);
    CHECK(count(db, "extra") == 1);
  }
  // This binary's schema is now older than the file: refused, clearly.
  try {
    Db::open(path);
    FAIL("a newer database was opened");
  } catch (const store::Error& e) {
    std::string msg = e.what();
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("newer version of ovl") != std::string::npos);
  }
  CHECK_THROWS_AS(Db::open(path, Db::Mode::read_only), store::Error);
}

TEST_CASE("store: Tx commits, rolls back on exception, and nests by joining") {
  TempDir dir;
  Db db = Db::open(dir.file("ovl.db"));
  {
    store::Tx tx(db);
    store::kv_put(db, "a", "1");  // joins the outer transaction
    tx.commit();
  }
  CHECK(store::kv_get(db, "a") == "1");
  try {
    store::Tx tx(db);
    store::kv_put(db, "b", "2");
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  CHECK_FALSE(db.in_transaction());
  CHECK_FALSE(store::kv_get(db, "b"));
  {
    store::Tx tx(db);
    store::kv_put(db, "c", "3");
  }  // no commit
  CHECK_FALSE(store::kv_get(db, "c"));
}

TEST_CASE("store: errors name the file and SQLite's reason, never the bound values") {
  TempDir dir;
  const auto path = dir.file("ovl.db");
  Db db = Db::open(path);
  db.exec("CREATE TABLE t (v TEXT UNIQUE)");
  const std::string secret = "s3cr3t-value-never-printed";
  db.prepare("INSERT INTO t VALUES (?)").bind_text(1, secret).run();
  try {
    db.prepare("INSERT INTO t VALUES (?)").bind_text(1, secret).run();
    FAIL("duplicate accepted");
  } catch (const store::Error& e) {
    std::string msg = e.what();
    CHECK(e.code() == SQLITE_CONSTRAINT);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("UNIQUE constraint failed") != std::string::npos);
    CHECK(msg.find(secret) == std::string::npos);
  }
  CHECK_THROWS_AS(db.prepare("SELEKT 1"), store::Error);
  CHECK_THROWS_AS(Db::open(dir.file("missing/dir/ovl.db")), store::Error);
}

TEST_CASE("store: kv round-trips bytes and survives a reopen") {
  TempDir dir;
  const auto path = dir.file("ovl.db");
  const std::string binary("\0\x01\xff map", 7);
  {
    Db db = Db::open(path);
    CHECK_FALSE(store::kv_get(db, "missing"));
    store::kv_put(db, "netmap", binary);
    store::kv_put(db, "empty", "");
    store::kv_put(db, "setting", "old");
    store::kv_put(db, "setting", "new");
    CHECK(store::kv_get(db, "netmap") == binary);
    CHECK(store::kv_get(db, "empty") == "");
    CHECK(store::kv_get(db, "setting") == "new");
    CHECK(store::kv_erase(db, "empty"));
    CHECK_FALSE(store::kv_erase(db, "empty"));
  }
  Db db = Db::open(path);
  CHECK(store::kv_get(db, "netmap") == binary);
  CHECK(store::kv_get(db, "setting") == "new");
  CHECK_FALSE(store::kv_get(db, "empty"));
}

TEST_CASE("store: a read-only database refuses writes with a clear error") {
  TempDir dir;
  const auto path = dir.file("ovl.db");
  { Db db = Db::open(path); store::kv_put(db, "a", "1"); }
  Db db = Db::open(path, Db::Mode::read_only);
  CHECK(db.read_only());
  CHECK(store::kv_get(db, "a") == "1");  // reads still work
  try {
    store::kv_put(db, "a", "2");
    FAIL("write to a read-only database succeeded");
  } catch (const store::Error& e) {
    std::string msg = e.what();
    CHECK(e.code() == SQLITE_READONLY);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("readonly database") != std::string::npos);
  }
  CHECK(store::kv_get(db, "a") == "1");
  // A read-only open never creates a file.
  CHECK_THROWS_AS(Db::open(dir.file("none.db"), Db::Mode::read_only), store::Error);
  CHECK_FALSE(std::filesystem::exists(dir.file("none.db")));

  // As a non-root user a 0444 file is read-only too (root ignores modes).
  if (::geteuid() != 0) {
    const auto ro = dir.file("ro.db");
    { Db w = Db::open(ro); }
    ::chmod(ro.c_str(), 0444);
    Db r = Db::open(ro);
    CHECK(r.read_only());
    CHECK_THROWS_AS(store::kv_put(r, "x", "y"), store::Error);
  }
}

TEST_CASE("store: a state dir on a read-only filesystem gives a clear error, not a crash") {
  TempDir dir;
  const auto path = dir.file("ovl.db");
  {
    Db db = Db::open(path);
    CoordinatorStore s(db);
    s.create_network(make_network("10.9.0.0/24"));
    s.add_node(key_n(1), "server", 1000);
  }
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Child: a private mount namespace where the temp dir is bind-mounted
    // read-only over itself, then the real code path. Reports through the pipe.
    ::close(fds[0]);
    auto say = [&](const std::string& s) { (void)!::write(fds[1], s.data(), s.size()); };
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount(dir.path.c_str(), dir.path.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        ::mount(nullptr, dir.path.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)
      ::_exit(77);
    try {
      Db::open(dir.file("new.db"));
      say("created\n");
    } catch (const store::Error& e) {
      say(std::string("create-error=") + e.what() + "\n");
    }
    try {
      Db db = Db::open(path);
      CoordinatorStore s(db);
      say("nodes=" + std::to_string(s.nodes().size()) + "\n");
      s.create_invite({}, hash_of(secret_n(1)), 2000);
      say("wrote\n");
    } catch (const store::Error& e) {
      say(std::string("error=") + e.what() + "\n");
    } catch (...) {
      say("other exception\n");
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) {
    MESSAGE("skipped: cannot make a read-only bind mount here (needs root)");
    return;
  }
  CAPTURE(out);
  CHECK(out.find("nodes=1\n") != std::string::npos);  // the running network's state is still readable
  CHECK(out.find("wrote") == std::string::npos);
  CHECK(out.find("error=state database " + path) != std::string::npos);
  CHECK(out.find("readonly database") != std::string::npos);
  CHECK(out.find("create-error=state database " + dir.file("new.db") + ": cannot create the file: Read-only file system") !=
        std::string::npos);
  // Nothing was damaged.
  Db db = Db::open(path);
  CHECK(integrity(db) == "ok");
  CHECK(count(db, "invites") == 0);
}

TEST_CASE("store: a full disk gives a clear error and leaves the database intact") {
  Coord c;
  // Cap the file at its current size: the next page it needs is "disk full".
  auto pc = c.db.prepare("PRAGMA page_count");
  REQUIRE(pc.step());
  c.db.exec("PRAGMA max_page_count = " + std::to_string(pc.col_int(0)));
  auto inv = c.invite(1, {.uses = -1});
  bool full = false;
  for (int i = 0; i < 200 && !full; ++i) {
    try {
      auto r = c.store.enroll(c.request(inv, 1, i, std::string(60, 'n')), 3000);
      REQUIRE(as_node(r));
    } catch (const store::Error& e) {
      full = true;
      CHECK(e.code() == SQLITE_FULL);
      CHECK(std::string(e.what()).find("database or disk is full") != std::string::npos);
      CHECK(std::string(e.what()).find(c.path) != std::string::npos);
    }
  }
  REQUIRE(full);
  CHECK_FALSE(c.db.in_transaction());
  // The failed enrollment left no trace: every node has a use accounted for.
  const auto nodes = c.store.nodes();
  CHECK(c.reload(inv.id).used == static_cast<int>(nodes.size()));
  CHECK(integrity(c.db) == "ok");
}

}  // TEST_SUITE
