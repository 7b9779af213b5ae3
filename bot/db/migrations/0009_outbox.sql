-- 0009: the outbox. A post in a server's channel that is not the answer to an interaction (a
-- milestone celebration, a shared check-in summary, a notice to the moderators) is written here
-- before it is sent, so that a failure Discord reports is retried later instead of lost, and a
-- restart sends what was pending. A row lives only until its post is delivered (then deleted at
-- once) or given up (about a day at most; recorded in the audit log, then deleted).
-- Times are INTEGER Unix seconds (UTC).
--
-- destination: where it goes, resolved when it is sent: 'channel' (channel_id), a server setting
-- naming a channel ('moderator_channel', 'celebrations_channel', 'checkin_channel'), 'owner'
-- (a direct message to the server's owner) or 'member' (a direct message to user_id). user_id:
-- the member the post is about, if any, so that /privacy export shows it and /privacy delete and
-- retention remove it. content: only what the member chose to share or what the moderators or the
-- member are told anyway (never a check-in note).
-- AUTOINCREMENT: an id is never used twice, even after its row is deleted, because the nonce sent
-- with a post is made from it (a reused nonce within Discord's window would return the old message).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id        INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id         INTEGER,
    kind            TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    channel_id      INTEGER,
    content         TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    CHECK ((destination = 'channel') = (channel_id IS NOT NULL))
);

-- The dispatcher's question: what is due next (all servers).
CREATE INDEX outbox_due ON outbox (next_attempt_at);

-- A member's pending posts in a server (export, delete, retention).
CREATE INDEX outbox_member ON outbox (guild_id, user_id) WHERE user_id IS NOT NULL;
