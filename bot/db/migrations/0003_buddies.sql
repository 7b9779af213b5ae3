-- 0003: buddy matching (matching groups, the queue, volunteers, pairs with their history,
-- approvals and introductions) and the moderators' audit log.
-- Every row carries guild_id; erasing a server (DELETE FROM guilds) cascades to its buddy data.
-- Times are INTEGER Unix seconds (UTC).

-- The matching groups of a server: roles its moderators assign (the men's house, the women's
-- house). A pair never spans two of them.
CREATE TABLE buddy_groups (
    guild_id INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    role_id  INTEGER NOT NULL,
    added_at INTEGER NOT NULL,
    added_by INTEGER,
    PRIMARY KEY (guild_id, role_id)
) WITHOUT ROWID;

-- What the bot knows of a member who holds a group role, waits, volunteers or is paired.
-- group_count is how many group roles they hold; group_role_id is that role when they hold
-- exactly one (they are matchable), NULL otherwise. Both are kept in step with
-- buddy_member_roles, in the same transaction, by the repository.
-- told_at: when they were told (once) what a buddy is. several_notice_at: when the moderators
-- were told they hold several group roles (cleared once they hold one or none again).
CREATE TABLE buddy_members (
    guild_id          INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id           INTEGER NOT NULL,
    joined_at         INTEGER,
    group_count       INTEGER NOT NULL DEFAULT 0 CHECK (group_count >= 0),
    group_role_id     INTEGER,
    left_at           INTEGER,
    told_at           INTEGER,
    several_notice_at INTEGER,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id),
    CHECK ((group_count = 1) = (group_role_id IS NOT NULL))
) WITHOUT ROWID;

CREATE INDEX buddy_members_by_group ON buddy_members (guild_id, group_role_id) WHERE group_role_id IS NOT NULL;

-- The group roles each member holds (only group roles: other roles are never stored).
CREATE TABLE buddy_member_roles (
    guild_id INTEGER NOT NULL,
    role_id  INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, role_id, user_id),
    FOREIGN KEY (guild_id, role_id) REFERENCES buddy_groups (guild_id, role_id) ON DELETE CASCADE,
    FOREIGN KEY (guild_id, user_id) REFERENCES buddy_members (guild_id, user_id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX buddy_member_roles_by_user ON buddy_member_roles (guild_id, user_id);

-- Members waiting for a buddy. Served first in line first, then by queued_at, then user id.
-- origin: 'request' (asked), 'auto' (queued on joining or gaining a group role),
-- 'requeue' (put back after a pairing ended without their choosing, or a proposal was rejected).
CREATE TABLE buddy_queue (
    guild_id      INTEGER NOT NULL,
    user_id       INTEGER NOT NULL,
    queued_at     INTEGER NOT NULL,
    first_in_line INTEGER NOT NULL DEFAULT 0 CHECK (first_in_line IN (0, 1)),
    origin        TEXT    NOT NULL CHECK (origin IN ('request', 'auto', 'requeue')),
    PRIMARY KEY (guild_id, user_id),
    FOREIGN KEY (guild_id, user_id) REFERENCES buddy_members (guild_id, user_id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX buddy_queue_order ON buddy_queue (guild_id, first_in_line DESC, queued_at, user_id);

-- Members offering to be a buddy for newcomers of their group. max_buddies NULL: the server's
-- default. A member who stops offering keeps the row with available = 0 (their max is kept).
CREATE TABLE buddy_volunteers (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    available   INTEGER NOT NULL CHECK (available IN (0, 1)),
    max_buddies INTEGER CHECK (max_buddies BETWEEN 1 AND 5),
    since       INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id),
    FOREIGN KEY (guild_id, user_id) REFERENCES buddy_members (guild_id, user_id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX buddy_volunteers_available ON buddy_volunteers (guild_id) WHERE available = 1;

-- Every pairing, live or past: member_id is supported by buddy_id, both of group_role_id.
-- status: 'proposed' (waits for a moderator's approval), 'active', 'ended', 'rejected' (a
-- proposal a moderator turned down), 'withdrawn' (a proposal that became impossible before a
-- decision). 'ended' and 'rejected' pairs are never made again automatically.
-- created_by: the moderator who paired by hand (NULL: matched automatically); forced: paired
-- by hand over the buddy's maximum. queued_at/first_in_line: the member's place in the queue
-- when the pair was made, given back if a proposal is rejected or withdrawn.
-- Introductions: introduced_at (when the cog reported it done; NULL = still to introduce),
-- intro_thread_id (NULL when introduced by DM), last_activity_at (first and later messages of
-- either member in the thread), reminded_at (the one gentle reminder).
CREATE TABLE buddy_pairs (
    pair_id             INTEGER PRIMARY KEY,
    guild_id            INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    member_id           INTEGER NOT NULL,
    buddy_id            INTEGER NOT NULL,
    group_role_id       INTEGER NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('proposed', 'active', 'ended', 'rejected', 'withdrawn')),
    created_at          INTEGER NOT NULL,
    created_by          INTEGER,
    forced              INTEGER NOT NULL DEFAULT 0 CHECK (forced IN (0, 1)),
    queued_at           INTEGER,
    first_in_line       INTEGER NOT NULL DEFAULT 0 CHECK (first_in_line IN (0, 1)),
    proposal_channel_id INTEGER,
    proposal_message_id INTEGER,
    decided_at          INTEGER,
    decided_by          INTEGER,
    started_at          INTEGER,
    ended_at            INTEGER,
    ended_by            INTEGER,
    end_reason          TEXT,
    introduced_at       INTEGER,
    intro_thread_id     INTEGER,
    last_activity_at    INTEGER,
    reminded_at         INTEGER,
    CHECK (member_id <> buddy_id),
    CHECK (status <> 'active' OR (started_at IS NOT NULL AND ended_at IS NULL)),
    CHECK (status <> 'ended' OR (started_at IS NOT NULL AND ended_at IS NOT NULL))
);

-- At most one live pairing between two members, whichever way round.
CREATE UNIQUE INDEX buddy_pairs_one_live ON buddy_pairs (guild_id, min(member_id, buddy_id), max(member_id, buddy_id))
    WHERE status IN ('proposed', 'active');
CREATE INDEX buddy_pairs_by_member ON buddy_pairs (guild_id, member_id, status);
CREATE INDEX buddy_pairs_by_buddy ON buddy_pairs (guild_id, buddy_id, status);
CREATE INDEX buddy_pairs_live_by_group ON buddy_pairs (guild_id, group_role_id) WHERE status IN ('proposed', 'active');
CREATE INDEX buddy_pairs_by_thread ON buddy_pairs (guild_id, intro_thread_id) WHERE intro_thread_id IS NOT NULL;
CREATE INDEX buddy_pairs_to_introduce ON buddy_pairs (guild_id) WHERE status = 'active' AND introduced_at IS NULL;
CREATE INDEX buddy_pairs_reminder_due ON buddy_pairs (introduced_at)
    WHERE status = 'active' AND intro_thread_id IS NOT NULL AND last_activity_at IS NULL AND reminded_at IS NULL;

-- Every moderator action (who, what, when), for /settings audit-log. detail is a JSON object.
-- actor_id NULL: the bot itself.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    guild_id INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    actor_id INTEGER,
    action   TEXT    NOT NULL,
    detail   TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(detail) AND json_type(detail) = 'object'),
    at       INTEGER NOT NULL
);

CREATE INDEX audit_log_by_guild_time ON audit_log (guild_id, at);
