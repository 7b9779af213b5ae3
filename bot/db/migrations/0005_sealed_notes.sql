-- 0005: check-in notes may be stored sealed (encrypted at rest with DATA_KEY): a note is TEXT
-- when plain and a BLOB when sealed. SQLite cannot change a CHECK in place, so the table is
-- rebuilt with the same columns, key and row order; nothing references it.
CREATE TABLE checkins_new (
    guild_id        INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL,
    day             INTEGER NOT NULL,
    mood            INTEGER NOT NULL CHECK (mood BETWEEN 1 AND 5),
    craving         INTEGER CHECK (craving IS NULL OR craving BETWEEN 0 AND 10),
    sober           INTEGER CHECK (sober IS NULL OR sober IN (0, 1)),
    note            TEXT CHECK (
        note IS NULL
        OR (typeof(note) = 'text' AND length(note) BETWEEN 1 AND 1000)
        -- sealed: 1 version byte + 12 nonce + at most 4000 bytes of UTF-8 + 16 tag
        OR (typeof(note) = 'blob' AND length(note) BETWEEN 30 AND 4029)
    ),
    recorded_offset INTEGER NOT NULL CHECK (recorded_offset BETWEEN -86400 AND 172800),
    PRIMARY KEY (guild_id, user_id, day)
) WITHOUT ROWID;

INSERT INTO checkins_new (guild_id, user_id, day, mood, craving, sober, note, recorded_offset)
SELECT guild_id, user_id, day, mood, craving, sober, note, recorded_offset FROM checkins;

DROP TABLE checkins;

ALTER TABLE checkins_new RENAME TO checkins;
