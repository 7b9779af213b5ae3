-- 0006: retention. What the privacy jobs need to forget on time, and to find it without scanning.
-- Times are INTEGER Unix seconds (UTC).

-- Members who left a server: all their data there is erased 30 days after left_at, unless they
-- return (the row is then removed). One row per member and server; the earliest departure counts.
CREATE TABLE departed_members (
    guild_id INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL,
    left_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

CREATE INDEX departed_members_by_time ON departed_members (left_at);

-- Servers that removed the bot (guilds.left_at): erased 30 days later unless the bot returns.
CREATE INDEX guilds_left ON guilds (left_at) WHERE left_at IS NOT NULL;

-- Check-in notes older than the server's note_retention_days are erased (the numbers stay): only
-- the rows that still hold a note are in this index, by server and local day.
CREATE INDEX checkins_noted ON checkins (guild_id, day) WHERE note IS NOT NULL;
