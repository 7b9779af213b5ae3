-- 0001: the base tables. Every timestamp is an INTEGER of Unix seconds, which is UTC by
-- definition; the repositories turn them into timezone-aware datetimes.

-- The hash of the application-command schema last synced to Discord, per scope
-- ('global' or 'guild:<id>') and application, so restarts do not spend the sync rate limit.
CREATE TABLE command_sync (
    application_id INTEGER NOT NULL,
    scope          TEXT    NOT NULL,
    schema_hash    TEXT    NOT NULL,
    synced_at      INTEGER NOT NULL,
    PRIMARY KEY (application_id, scope)
) WITHOUT ROWID;

-- One row per server the bot is in (or was in, until its data is erased).
CREATE TABLE guilds (
    guild_id  INTEGER PRIMARY KEY,
    joined_at INTEGER NOT NULL,
    left_at   INTEGER
);

-- Per-server settings as typed key/value pairs; each feature owns its keys.
CREATE TABLE guild_settings (
    guild_id   INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by INTEGER,
    PRIMARY KEY (guild_id, key)
) WITHOUT ROWID;
