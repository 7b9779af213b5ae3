-- 0004: isolation nudges. The last activity of each member the bot has seen (never what they
-- wrote: only that they posted, reacted, joined voice or used the bot), the quiet-spell ladder
-- (a DM to the member, a note to their buddy, a notice to the moderators) and each member's
-- choice (/nudges on|off|pause). Times are INTEGER Unix seconds (UTC).

-- Per server: since when the bot watches for activity. A member who never did anything counts
-- from when they joined, or from this moment if they joined before it, so turning the feature on
-- in an old server does not make every long-standing member look quiet at once.
CREATE TABLE nudge_guilds (
    guild_id        INTEGER PRIMARY KEY REFERENCES guilds (guild_id) ON DELETE CASCADE,
    watching_since  INTEGER NOT NULL
);

-- One row per member the bot has seen in a server.
-- last_active_at: the latest activity (or the join); it is also the identity of the current quiet
--   spell: any later activity moves it and so starts a new spell with no step taken.
-- step: how many steps of the ladder were decided in this spell (0 none, 1 the member's DM,
--   2 the buddy's note, 3 the moderators' notice).
-- hurry: the last step could not reach anyone (closed DMs), so the next one is due now rather
--   than at its day.
-- next_check_at: when the sweep looks at the member next (NULL: nothing to do until something
--   happens: opted out, left, ladder finished). The sweep reads only the due rows, through the
--   partial index, so its cost grows with the members due, not with the size of the server.
-- opt: 'auto' (nudged if they participate: a buddy, a recent check-in, a sobriety date), 'on'
--   (asked for nudges), 'off' (asked for none). paused_until: no step before then.
-- participant: what the sweep last found (NULL: not looked at yet); /settings quiet-members
--   lists only participants.
CREATE TABLE nudge_members (
    guild_id       INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL,
    step           INTEGER NOT NULL DEFAULT 0 CHECK (step BETWEEN 0 AND 3),
    hurry          INTEGER NOT NULL DEFAULT 0 CHECK (hurry IN (0, 1)),
    next_check_at  INTEGER,
    opt            TEXT    NOT NULL DEFAULT 'auto' CHECK (opt IN ('auto', 'on', 'off')),
    paused_until   INTEGER,
    participant    INTEGER CHECK (participant IN (0, 1)),
    present        INTEGER NOT NULL DEFAULT 1 CHECK (present IN (0, 1)),
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

CREATE INDEX nudge_members_due ON nudge_members (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX nudge_members_quiet ON nudge_members (guild_id, last_active_at)
    WHERE participant = 1 AND present = 1 AND opt <> 'off';

-- Every step of every quiet spell, claimed before it is carried out: the key makes "each step at
-- most once per spell" a constraint, also across restarts. outcome 'pending' means claimed and
-- not yet known to be done: a claim left pending by an earlier run (a crash between claim and
-- send) is checked against Discord (is the message there?) before it is sent, so it is neither
-- lost nor repeated. target_id: the member (step 1), the buddy (step 2), the moderators'
-- channel (step 3). requested: the member asked for the buddy's note (a button). Outcomes:
-- sent; dm_closed (the member's or buddy's DMs are closed); no_buddy; no_channel (no moderators'
-- channel set); gone (the recipient left the server); failed (Discord refused otherwise);
-- unknown (claimed by a run that crashed, and whether it was sent cannot be told); dropped (such
-- a claim, found not sent, that is no longer wanted: the member became active or opted out).
CREATE TABLE nudge_steps (
    guild_id   INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    spell      INTEGER NOT NULL,
    step       INTEGER NOT NULL CHECK (step IN (1, 2, 3)),
    target_id  INTEGER,
    requested  INTEGER NOT NULL DEFAULT 0 CHECK (requested IN (0, 1)),
    outcome    TEXT    NOT NULL CHECK (outcome IN
        ('pending', 'sent', 'dm_closed', 'no_buddy', 'no_channel', 'gone', 'failed', 'unknown', 'dropped')),
    run_id     TEXT    NOT NULL,
    claimed_at INTEGER NOT NULL,
    done_at    INTEGER,
    PRIMARY KEY (guild_id, user_id, spell, step)
) WITHOUT ROWID;

CREATE INDEX nudge_steps_pending ON nudge_steps (claimed_at) WHERE outcome = 'pending';
CREATE INDEX nudge_steps_by_time ON nudge_steps (claimed_at);
