// One SQLite connection with RAII statements and transactions.
//
// Contract:
// * A Db is one connection; use it from one thread at a time. Threads or
//   processes that share a database file each open their own Db.
// * Every failure throws store::Error. Its message names the database file
//   and says what SQLite said ("database or disk is full", "attempt to write
//   a readonly database"). Bound values never appear in it, so secrets
//   passed as parameters cannot leak through an error message.
// * Write transactions (Tx) take the write lock when they begin, so
//   concurrent writers queue (up to the busy timeout) instead of failing.
#pragma once
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace ovl::store {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg, int sqlite_code = 0) : std::runtime_error(msg), code_(sqlite_code) {}
  // SQLite's primary result code (SQLITE_FULL, SQLITE_READONLY...), 0 when
  // the error did not come from SQLite.
  int code() const { return code_; }

 private:
  int code_;
};

// A prepared statement. Bind indexes are 1-based, column indexes 0-based
// (SQLite's own convention).
//
// A statement that has returned a row and was neither stepped to the end
// nor reset is still "in progress"; SQLite refuses to COMMIT while a
// writing one (PRAGMAs count) is, so keep such statements in a narrower
// scope than the Tx that commits.
class Stmt {
 public:
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Stmt& bind_int(int i, int64_t v);
  Stmt& bind_text(int i, std::string_view v);
  Stmt& bind_blob(int i, std::span<const uint8_t> v);
  Stmt& bind_null(int i);

  bool step();   // true: a row is ready to read; false: the statement is done
  void run();    // steps to the end; for statements that return no rows
  void reset();  // keeps the bindings; ready to step again

  int64_t col_int(int i) const;
  std::string col_text(int i) const;  // "" for NULL
  std::vector<uint8_t> col_blob(int i) const;
  bool col_null(int i) const;

 private:
  friend class Db;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  sqlite3_stmt* s_;
};

class Db {
 public:
  enum class Mode {
    read_write,  // creates the file (mode 0600) and migrates it to the current schema
    read_only,   // never writes; the file must exist at the current schema
  };
  static constexpr int kBusyTimeoutMs = 5000;

  // Opens (and for read_write creates) the database and brings its schema up
  // to date. A database written by a newer ovl is refused. A file that can
  // only be read (read-only file or filesystem) still opens if its schema is
  // current: read_only() is then true and every write throws store::Error.
  static Db open(const std::string& path, Mode mode = Mode::read_write);

  Db(Db&& o) noexcept : h_(o.h_), path_(std::move(o.path_)) { o.h_ = nullptr; }
  Db& operator=(Db&& o) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // Runs SQL without parameters (schema, pragmas); may hold several statements.
  void exec(std::string_view sql);
  Stmt prepare(std::string_view sql);

  // Applies steps[v..] where v = PRAGMA user_version, in one write
  // transaction, and sets user_version to steps.size(). Step i (0-based)
  // moves the schema from version i to i+1. Refuses a newer database.
  void migrate(std::span<const std::string_view> steps);
  int user_version();

  int64_t last_insert_id() const;
  int changes() const;  // rows changed by the last INSERT/UPDATE/DELETE
  // True when SQLite could only open the file for reading (read-only file
  // or filesystem); writes will then throw.
  bool read_only() const;
  bool in_transaction() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() { return h_; }

 private:
  Db(sqlite3* h, std::string path) : h_(h), path_(std::move(path)) {}
  static Db open_handle(const std::string& name, const std::string& path, int flags);
  sqlite3* h_;
  std::string path_;
};

// A transaction that commits only when told to and rolls back otherwise
// (including when an exception unwinds through it).
//
// Kind::write begins with BEGIN IMMEDIATE: the write lock is taken up front,
// so two writers that both read first cannot deadlock on the upgrade (which
// SQLite reports as SQLITE_BUSY without waiting). Kind::read is a consistent
// snapshot for several SELECTs.
//
// A Tx opened while the connection is already inside a transaction joins
// that outer transaction: its commit() does nothing and the outer one
// decides.
class Tx {
 public:
  enum class Kind { write, read };
  explicit Tx(Db& db, Kind kind = Kind::write);
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;
  ~Tx();
  void commit();

 private:
  Db& db_;
  bool owner_;  // false when joined to an outer transaction
  bool done_ = false;
};

}  // namespace ovl::store
