-- 0007: /sos alerts. Only the time of a member's latest alert of each kind (to their buddy, to
-- the moderators) is kept, so that at most one of each goes out per 10 minutes, across restarts.
-- Nothing else of the alert is stored; rows older than the limit are deleted as new alerts come.
CREATE TABLE sos_alerts (
    guild_id INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('buddy', 'moderators')),
    sent_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, kind)
) WITHOUT ROWID;
