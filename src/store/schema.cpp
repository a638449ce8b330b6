#include "store/schema.hpp"

#include <array>

namespace ovl::store {

namespace {

// Version 1: the coordinator's registry and the node's key/value cache.
// One schema serves every role so that a process can take on a role later
// (a node that starts coordinating) without a second database file.
constexpr std::string_view kV1 = R"sql(
-- The network this coordinator runs. At most one row.
CREATE TABLE network (
  singleton INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (singleton = 1),
  id        TEXT    NOT NULL,
  name      TEXT    NOT NULL,
  cidr      TEXT    NOT NULL,
  created   INTEGER NOT NULL
);

-- AUTOINCREMENT: a removed node's id is never handed to a new node, so an id
-- seen in an old map or delta can never mean someone else.
CREATE TABLE nodes (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  name       TEXT    NOT NULL UNIQUE,
  public_key BLOB    NOT NULL UNIQUE CHECK (length(public_key) = 32),
  ip         TEXT    NOT NULL UNIQUE,
  ephemeral  INTEGER NOT NULL DEFAULT 0,
  created    INTEGER NOT NULL,
  last_seen  INTEGER NOT NULL DEFAULT 0,
  endpoints  TEXT    NOT NULL DEFAULT ''   -- comma-separated "ip:port" / "[ip6]:port"
);

CREATE TABLE node_groups (
  node_id INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
  grp     TEXT    NOT NULL,
  PRIMARY KEY (node_id, grp)
) WITHOUT ROWID;
CREATE INDEX node_groups_by_grp ON node_groups(grp);

-- Only a hash of each invite's secret is kept; the token holds the secret.
CREATE TABLE invites (
  id          TEXT    PRIMARY KEY,
  secret_hash BLOB    NOT NULL CHECK (length(secret_hash) = 32),
  uses_left   INTEGER NOT NULL CHECK (uses_left >= -1),  -- -1 = unlimited
  used        INTEGER NOT NULL DEFAULT 0,
  expires     INTEGER NOT NULL DEFAULT 0,                -- unix time, 0 = never
  revoked     INTEGER NOT NULL DEFAULT 0,
  groups      TEXT    NOT NULL DEFAULT '',               -- newline-separated
  ephemeral   INTEGER NOT NULL DEFAULT 0,
  name        TEXT    NOT NULL DEFAULT '',
  created     INTEGER NOT NULL
);

CREATE TABLE events (
  id     INTEGER PRIMARY KEY AUTOINCREMENT,
  at     INTEGER NOT NULL,
  kind   TEXT    NOT NULL,
  detail TEXT    NOT NULL
);
CREATE INDEX events_by_at ON events(at);

-- The node role's settings and its last network map, so a node restarted
-- while the coordinator is away can come back up on its own.
CREATE TABLE kv (
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;
)sql";

// Version 2: access policies (engine/policy/policy.hpp). Selectors are kept
// in their storage form: "*", "group:NAME" or "node:ID" (an id, so renaming
// a node does not change what a policy means).
constexpr std::string_view kV2 = R"sql(
CREATE TABLE policies (
  name    TEXT    PRIMARY KEY,
  src     TEXT    NOT NULL,
  dst     TEXT    NOT NULL,
  proto   TEXT    NOT NULL CHECK (proto IN ('any', 'tcp', 'udp', 'icmp')),
  ports   TEXT    NOT NULL DEFAULT '',   -- "22,8000-8100"; '' = every port
  created INTEGER NOT NULL
);

-- A network made before policies existed let every node reach every other:
-- it keeps doing so through the policy a new network starts with.
INSERT INTO policies (name, src, dst, proto, ports, created)
  SELECT 'default', '*', '*', 'any', '', created FROM network;
)sql";

// Version 3: IPv6 inside the overlay. Each network has a random ULA /48
// (RFC 4193); a network created before this gets one here, from SQLite's
// own CSPRNG-seeded random(). Text as "fdXX:XXXX:XXXX::/48"; the store
// parses it, so leading zeros in the groups do not matter.
constexpr std::string_view kV3 = R"sql(
ALTER TABLE network ADD COLUMN ula TEXT NOT NULL DEFAULT '';
UPDATE network SET ula = printf('fd%02x:%04x:%04x::/48', random() & 255, random() & 65535, random() & 65535)
  WHERE ula = '';
)sql";

// Version 4: subnet routes and exit nodes (engine/control/routes.hpp). One row
// per (node, prefix): what the node advertises, what an admin approved; a
// prefix is routed to the node when both are set. Approval outlives a
// withdrawal, so re-advertising needs no second approval (as in Tailscale).
constexpr std::string_view kV4 = R"sql(
CREATE TABLE node_routes (
  node_id    INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
  prefix     TEXT    NOT NULL,                 -- canonical "10.1.0.0/24"
  advertised INTEGER NOT NULL DEFAULT 0,
  approved   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (node_id, prefix)
) WITHOUT ROWID;
)sql";

// Version 5: removed nodes' keys, kept as long as a relay grant issued before
// the removal can still be valid, so that the relays are told again (after
// a relay or the coordinator restarted) to refuse them.
constexpr std::string_view kV5 = R"sql(
CREATE TABLE revoked_keys (
  public_key   TEXT    PRIMARY KEY,            -- base64
  removed_unix INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

constexpr std::array<std::string_view, 5> kSteps = {kV1, kV2, kV3, kV4, kV5};

}  // namespace

std::span<const std::string_view> schema_migrations() { return kSteps; }
int schema_version() { return static_cast<int>(kSteps.size()); }

}  // namespace ovl::store
