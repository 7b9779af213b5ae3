-- 0013: the pair and nudge tables check their codes with comparisons, not IN lists (issue 9).
--
-- SQLite (3.40, as Python ships it) evaluates a CHECK of the form `x IN (three or more constants)`
-- through a temporary index it builds again for every row written: about 0.6 us a row in a
-- multi-row INSERT and 1.8 us with executemany, against under 0.1 us for the same test written as
-- comparisons joined by OR. Measured on the bench data, alternating with the previous schema: a
-- matching run's 5,000 new pairs 3 ms faster (the insert 25 -> 22 ms), the activity flush of 100,000
-- members' upsert (checked before the conflict is found) 486-491 -> 291-306 ms at best; the
-- nudge sweep claims a step a member. The rewritten tests accept exactly the values the IN lists did (the columns are NOT NULL). SQLite
-- cannot change a CHECK in place: each table is rebuilt, with its rows and indexes as they were
-- (neither table has triggers, and no foreign key points at either).

CREATE TABLE buddy_pairs_new (
    pair_id             INTEGER PRIMARY KEY,
    guild_id            INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    member_id           INTEGER NOT NULL,
    buddy_id            INTEGER NOT NULL,
    group_role_id       INTEGER NOT NULL,
    status              TEXT    NOT NULL CHECK (
        status = 'proposed' OR status = 'active' OR status = 'ended' OR status = 'rejected' OR status = 'withdrawn'
    ),
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

INSERT INTO buddy_pairs_new (
    pair_id, guild_id, member_id, buddy_id, group_role_id, status, created_at, created_by, forced, queued_at,
    first_in_line, proposal_channel_id, proposal_message_id, decided_at, decided_by, started_at, ended_at, ended_by,
    end_reason, introduced_at, intro_thread_id, last_activity_at, reminded_at
)
SELECT
    pair_id, guild_id, member_id, buddy_id, group_role_id, status, created_at, created_by, forced, queued_at,
    first_in_line, proposal_channel_id, proposal_message_id, decided_at, decided_by, started_at, ended_at, ended_by,
    end_reason, introduced_at, intro_thread_id, last_activity_at, reminded_at
FROM buddy_pairs;

DROP TABLE buddy_pairs;
ALTER TABLE buddy_pairs_new RENAME TO buddy_pairs;

-- At most one live pairing between two members, whichever way round.
CREATE UNIQUE INDEX buddy_pairs_one_live ON buddy_pairs (guild_id, min(member_id, buddy_id), max(member_id, buddy_id))
    WHERE status IN ('proposed', 'active');
CREATE INDEX buddy_pairs_by_member ON buddy_pairs (guild_id, member_id, status);
CREATE INDEX buddy_pairs_by_buddy ON buddy_pairs (guild_id, buddy_id, status);
CREATE INDEX buddy_pairs_by_thread ON buddy_pairs (guild_id, intro_thread_id) WHERE intro_thread_id IS NOT NULL;
CREATE INDEX buddy_pairs_to_introduce ON buddy_pairs (guild_id) WHERE status = 'active' AND introduced_at IS NULL;
CREATE INDEX buddy_pairs_reminder_due ON buddy_pairs (introduced_at)
    WHERE status = 'active' AND intro_thread_id IS NOT NULL AND last_activity_at IS NULL AND reminded_at IS NULL;
CREATE INDEX buddy_pairs_live_by_group ON buddy_pairs (guild_id, group_role_id, status, buddy_id, member_id)
    WHERE status IN ('proposed', 'active');
CREATE INDEX buddy_pairs_past ON buddy_pairs (guild_id, member_id, buddy_id, status)
    WHERE status IN ('ended', 'rejected');

CREATE TABLE nudge_members_new (
    guild_id       INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL,
    step           INTEGER NOT NULL DEFAULT 0 CHECK (step BETWEEN 0 AND 3),
    hurry          INTEGER NOT NULL DEFAULT 0 CHECK (hurry IN (0, 1)),
    next_check_at  INTEGER,
    opt            TEXT    NOT NULL DEFAULT 'auto' CHECK (opt = 'auto' OR opt = 'on' OR opt = 'off'),
    paused_until   INTEGER,
    participant    INTEGER CHECK (participant IN (0, 1)),
    present        INTEGER NOT NULL DEFAULT 1 CHECK (present IN (0, 1)),
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

INSERT INTO nudge_members_new (
    guild_id, user_id, last_active_at, step, hurry, next_check_at, opt, paused_until, participant, present, updated_at
)
SELECT guild_id, user_id, last_active_at, step, hurry, next_check_at, opt, paused_until, participant, present, updated_at
FROM nudge_members;

DROP TABLE nudge_members;
ALTER TABLE nudge_members_new RENAME TO nudge_members;

CREATE INDEX nudge_members_due ON nudge_members (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX nudge_members_quiet ON nudge_members (guild_id, last_active_at)
    WHERE participant = 1 AND present = 1 AND opt <> 'off';

CREATE TABLE nudge_steps_new (
    guild_id   INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    spell      INTEGER NOT NULL,
    step       INTEGER NOT NULL CHECK (step BETWEEN 1 AND 3),
    target_id  INTEGER,
    requested  INTEGER NOT NULL DEFAULT 0 CHECK (requested IN (0, 1)),
    outcome    TEXT    NOT NULL CHECK (
        outcome = 'pending' OR outcome = 'sent' OR outcome = 'dm_closed' OR outcome = 'no_buddy'
        OR outcome = 'no_channel' OR outcome = 'gone' OR outcome = 'failed' OR outcome = 'unknown'
        OR outcome = 'dropped'
    ),
    run_id     TEXT    NOT NULL,
    claimed_at INTEGER NOT NULL,
    done_at    INTEGER,
    PRIMARY KEY (guild_id, user_id, spell, step)
) WITHOUT ROWID;

INSERT INTO nudge_steps_new (
    guild_id, user_id, spell, step, target_id, requested, outcome, run_id, claimed_at, done_at
)
SELECT guild_id, user_id, spell, step, target_id, requested, outcome, run_id, claimed_at, done_at
FROM nudge_steps;

DROP TABLE nudge_steps;
ALTER TABLE nudge_steps_new RENAME TO nudge_steps;

CREATE INDEX nudge_steps_pending ON nudge_steps (claimed_at) WHERE outcome = 'pending';
CREATE INDEX nudge_steps_by_time ON nudge_steps (claimed_at);
