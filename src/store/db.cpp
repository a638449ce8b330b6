#include "store/db.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "store/schema.hpp"

namespace ovl::store {

namespace {

// SQL text shortened to one line, to say which statement failed. Values are
// always bound as parameters, so the text itself holds no secrets.
std::string sql_context(std::string_view sql) {
  std::string out;
  for (char c : sql) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
    if (out.size() > 60) {
      out.resize(57);
      out += "...";
      break;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The OS error behind an I/O error when SQLite did not keep it (its unix
// VFS reads errno late): one small write next to the database. Only on this
// error path; it tells "Read-only file system" (e.g. ext4 after an error)
// from "No space left on device".
int probe_write_errno(const std::string& db) {
  if (db.empty() || db == ":memory:") return 0;
  auto slash = db.rfind('/');
  std::string probe = (slash == std::string::npos ? std::string(".") : db.substr(0, slash)) + "/.ovl-write-probe";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return errno;
  char c = 0;
  int e = ::write(fd, &c, 1) == 1 && ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  ::unlink(probe.c_str());
  return e;
}

[[noreturn]] void fail(sqlite3* h, int rc, const std::string& path, std::string_view context) {
  std::string msg = "state database " + path + ": ";
  msg += h ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
  // "unable to open database file" and "disk I/O error" alone do not say
  // why ("Read-only file system", "No space left on device", ...).
  int primary = rc & 0xff;
  int sys = h && (primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR) ? sqlite3_system_errno(h) : 0;
  if (sys == 0 && primary == SQLITE_IOERR) sys = probe_write_errno(path);
  if (sys != 0) {
    msg += " (";
    msg += std::strerror(sys);
    msg += ")";
  }
  if (!context.empty()) {
    msg += " [";
    msg += context;
    msg += "]";
  }
  throw Error(msg, rc & 0xff);
}

std::string db_path(sqlite3* h) {
  const char* p = h ? sqlite3_db_filename(h, "main") : nullptr;
  return p && *p ? p : ":memory:";
}

[[noreturn]] void fail_stmt(sqlite3_stmt* s, int rc) {
  sqlite3* h = sqlite3_db_handle(s);
  fail(h, rc, db_path(h), sql_context(sqlite3_sql(s)));
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_memory(const std::string& path) { return path.empty() || path == ":memory:"; }

// SQLite would create the file with 0644 & ~umask. The registry and the
// node's cache are nobody else's business, so the file is created here
// first, 0600; SQLite gives its -wal and -shm files the same mode.
void create_private_file(const std::string& path) {
  if (exists(path)) return;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return;  // another process created it meanwhile
    throw Error("state database " + path + ": cannot create the file: " + std::strerror(errno));
  }
  ::close(fd);
}

bool on_readonly_fs(const std::string& path) {
  struct statvfs sv;
  return ::statvfs(path.c_str(), &sv) == 0 && (sv.f_flag & ST_RDONLY) != 0;
}

// A file name as the path of a "file:" URI: '%', '?' and '#' are escaped.
std::string uri_path(const std::string& path) {
  static constexpr char hexd[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      out += '%';
      out += hexd[c >> 4];
      out += hexd[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

[[noreturn]] void refuse_newer(const std::string& path, int found, int known) {
  throw Error("state database " + path + " was written by a newer version of ovl (schema " + std::to_string(found) +
              ", this ovl knows up to " + std::to_string(known) + "); upgrade ovl to use it");
}

}  // namespace

// ---------------------------------------------------------------- Stmt

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(s_);
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}

Stmt::~Stmt() { sqlite3_finalize(s_); }

Stmt& Stmt::bind_int(int i, int64_t v) {
  if (int rc = sqlite3_bind_int64(s_, i, v); rc != SQLITE_OK) fail_stmt(s_, rc);
  return *this;
}

Stmt& Stmt::bind_text(int i, std::string_view v) {
  if (int rc = sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8); rc != SQLITE_OK)
    fail_stmt(s_, rc);
  return *this;
}

Stmt& Stmt::bind_blob(int i, std::span<const uint8_t> v) {
  // A zero-length blob with a null pointer would bind NULL; bind an empty
  // blob explicitly instead.
  int rc = v.empty() ? sqlite3_bind_zeroblob(s_, i, 0) : sqlite3_bind_blob64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) fail_stmt(s_, rc);
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  if (int rc = sqlite3_bind_null(s_, i); rc != SQLITE_OK) fail_stmt(s_, rc);
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail_stmt(s_, rc);
}

void Stmt::run() {
  while (step()) {
  }
}

void Stmt::reset() { sqlite3_reset(s_); }

int64_t Stmt::col_int(int i) const { return sqlite3_column_int64(s_, i); }

std::string Stmt::col_text(int i) const {
  auto p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, i))) : std::string();
}

std::vector<uint8_t> Stmt::col_blob(int i) const {
  auto p = static_cast<const uint8_t*>(sqlite3_column_blob(s_, i));
  return p ? std::vector<uint8_t>(p, p + sqlite3_column_bytes(s_, i)) : std::vector<uint8_t>();
}

bool Stmt::col_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }

// ---------------------------------------------------------------- Db

namespace {
// Switching a new file to WAL needs an exclusive lock, and SQLite does not
// run the busy handler for it: when several processes create the same
// database at once, all but one get SQLITE_BUSY. Once one switched it, the
// mode is persistent, so the others find WAL set and are done.
void enable_wal(Db& db) {
  for (int attempt = 0;; ++attempt) {
    try {
      auto st = db.prepare("PRAGMA journal_mode");
      if (st.step() && st.col_text(0) == "wal") return;
    } catch (const Error&) {
      // fall through to the switch and its retry
    }
    try {
      db.exec("PRAGMA journal_mode = WAL");
      return;
    } catch (const Error& e) {
      if ((e.code() != SQLITE_BUSY && e.code() != SQLITE_LOCKED) || attempt >= 250) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // bounded: 250 x 20 ms = 5 s, the busy timeout
  }
}
}  // namespace

Db Db::open(const std::string& path, Mode mode) {
  const bool memory = is_memory(path);
  if (mode == Mode::read_write && !memory) create_private_file(path);
  // No SQLITE_OPEN_CREATE for files: the file exists by now with our mode,
  // and a read-only open must not create one.
  int flags = mode == Mode::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (memory) flags |= SQLITE_OPEN_CREATE;
  Db db = open_handle(memory ? ":memory:" : path, memory ? ":memory:" : path, flags);

  // SQLite falls back to read-only when the file cannot be opened for
  // writing. A WAL reader also needs the -shm file, which a read-only
  // filesystem cannot give it after a clean shutdown removed it. There,
  // nobody can change the file, so it is safe to read it as immutable:
  // the node can still start from its cached state, and writes fail with a
  // clear error instead of the open failing.
  if (!memory && db.read_only() && on_readonly_fs(path) && !exists(path + "-wal") && !exists(path + "-shm"))
    db = open_handle("file:" + uri_path(path) + "?immutable=1", path, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);

  db.exec("PRAGMA foreign_keys = ON");
  if (mode == Mode::read_write && !db.read_only()) {
    // WAL: readers never block the writer and a crash mid-write leaves the
    // database intact. synchronous=FULL syncs the WAL at every commit: with
    // NORMAL the last commits can vanish when the disk goes away (a power cut,
    // or ext4 turning read-only after an error, tests/e2e/test_state_faults.sh)
    // and a coordinator would forget a node it had already welcomed, and hand
    // its address out again. Commits are rare (joins, invites, map changes).
    enable_wal(db);
    db.exec("PRAGMA synchronous = FULL");
  }
  if (mode == Mode::read_write) {
    // On a read-only file this only writes (and so only fails) if the
    // schema is out of date.
    db.migrate(schema_migrations());
  } else {
    int v = db.user_version();
    if (v > schema_version()) refuse_newer(db.path_, v, schema_version());
    if (v < schema_version())
      throw Error("state database " + db.path_ + " has an older schema (" + std::to_string(v) +
                  "); open it once read-write to upgrade it");
  }
  return db;
}

Db Db::open_handle(const std::string& name, const std::string& path, int flags) {
  sqlite3* h = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &h, flags, nullptr);
  Db db(h, path);  // owns the handle even when the open failed
  if (rc != SQLITE_OK) fail(h, rc, path, "open");
  sqlite3_busy_timeout(h, kBusyTimeoutMs);
  return db;
}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    sqlite3_close_v2(h_);
    h_ = o.h_;
    path_ = std::move(o.path_);
    o.h_ = nullptr;
  }
  return *this;
}

// close_v2 defers the close until any statement still alive is finalized,
// so destruction order between a Db and its Stmts cannot leak or crash.
Db::~Db() { sqlite3_close_v2(h_); }

void Db::exec(std::string_view sql) {
  std::string s(sql);  // sqlite3_exec wants a terminated string
  int rc = sqlite3_exec(h_, s.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(h_, rc, path_, sql_context(sql));
}

Stmt Db::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(h_, sql.data(), static_cast<int>(sql.size()), &s, nullptr);
  if (rc != SQLITE_OK) fail(h_, rc, path_, sql_context(sql));
  if (!s) throw Error("state database " + path_ + ": empty statement");
  return Stmt(s);
}

int Db::user_version() {
  auto st = prepare("PRAGMA user_version");
  return st.step() ? static_cast<int>(st.col_int(0)) : 0;
}

void Db::migrate(std::span<const std::string_view> steps) {
  const int target = static_cast<int>(steps.size());
  int v = user_version();
  if (v > target) refuse_newer(path_, v, target);
  if (v == target) return;  // the usual case: no write lock, works on read-only files too
  Tx tx(*this);
  v = user_version();  // another connection may have migrated while we waited for the lock
  if (v > target) refuse_newer(path_, v, target);
  for (int i = v; i < target; ++i) exec(steps[static_cast<size_t>(i)]);
  // user_version lives in the database header and is part of the transaction:
  // either every step and the new version land, or none of them.
  exec("PRAGMA user_version = " + std::to_string(target));
  tx.commit();
}

int64_t Db::last_insert_id() const { return sqlite3_last_insert_rowid(h_); }
int Db::changes() const { return sqlite3_changes(h_); }
bool Db::read_only() const { return sqlite3_db_readonly(h_, "main") == 1; }
bool Db::in_transaction() const { return sqlite3_get_autocommit(h_) == 0; }

// ---------------------------------------------------------------- Tx

Tx::Tx(Db& db, Kind kind) : db_(db), owner_(!db.in_transaction()) {
  if (owner_) db_.exec(kind == Kind::write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
}

Tx::~Tx() {
  // SQLite may already have rolled back by itself (after SQLITE_FULL, for
  // one); a second ROLLBACK would only fail.
  if (owner_ && !done_ && db_.in_transaction()) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Tx::commit() {
  if (!owner_ || done_) return;
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace ovl::store
