-- 0002: daily check-ins, the member's timezone, reminders and the sobriety counter.
-- Every row carries guild_id: a member's data in one server is never seen from another, and
-- erasing a server (DELETE FROM guilds) cascades to all of it. A "day" is a local calendar
-- date stored as its epoch day (days since 1970-01-01; 2 bytes until 2059), taken in the
-- member's timezone at the moment of recording, so changing timezone later never moves,
-- creates or loses a check-in.

-- Per member and server: the timezone (IANA name; NULL = not set yet, UTC is used) and
-- whether the member was already told that it is not set (they are told once).
CREATE TABLE checkin_members (
    guild_id        INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL,
    timezone        TEXT,
    tz_notice_shown INTEGER NOT NULL DEFAULT 0 CHECK (tz_notice_shown IN (0, 1)),
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

-- One check-in per member, server and local day; a second one that day replaces it. craving and
-- sober are NULL only in a quick check-in (a mood button on the reminder DM) not yet completed.
-- Compact by design (31 bytes of record, 35-40 bytes a row on disk without a note): WITHOUT
-- ROWID clusters the rows by (guild, member, day), so a member's history is one contiguous
-- range and no rowid is stored; 0 and 1 cost no byte beyond their type in the record header.
-- recorded_offset is the recording instant as seconds after 00:00 UTC of the epoch day `day`
-- (unix time = day * 86400 + recorded_offset): 3 bytes where a full timestamp takes 4.
CREATE TABLE checkins (
    guild_id        INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id         INTEGER NOT NULL,
    day             INTEGER NOT NULL,
    mood            INTEGER NOT NULL CHECK (mood BETWEEN 1 AND 5),
    craving         INTEGER CHECK (craving IS NULL OR craving BETWEEN 0 AND 10),
    sober           INTEGER CHECK (sober IS NULL OR sober IN (0, 1)),
    note            TEXT CHECK (note IS NULL OR length(note) BETWEEN 1 AND 1000),
    recorded_offset INTEGER NOT NULL CHECK (recorded_offset BETWEEN -86400 AND 172800),
    PRIMARY KEY (guild_id, user_id, day)
) WITHOUT ROWID;

-- A daily reminder at a local time (minute of the day, 0-1439). next_due_at is the UTC instant
-- of the next one (NULL while paused); the dispatcher reads the earliest through the index.
-- last_day is the local day of the last reminder handled (sent or skipped), so that no day
-- gets two. paused_reason says why it stopped (DMs closed); notice_pending means the member
-- has not yet been told.
CREATE TABLE checkin_reminders (
    guild_id       INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL,
    minute_of_day  INTEGER NOT NULL CHECK (minute_of_day BETWEEN 0 AND 1439),
    next_due_at    INTEGER,
    last_day       INTEGER,
    paused_reason  TEXT,
    notice_pending INTEGER NOT NULL DEFAULT 0 CHECK (notice_pending IN (0, 1)),
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

CREATE INDEX checkin_reminders_next_due ON checkin_reminders (next_due_at) WHERE next_due_at IS NOT NULL;

-- The sobriety date (an epoch day). next_milestone is the next milestone (in days
-- since the date) not yet celebrated, and next_milestone_day the local day it is reached,
-- indexed so that finding the due ones never reads every member.
CREATE TABLE sobriety (
    guild_id           INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id            INTEGER NOT NULL,
    since_day          INTEGER NOT NULL,
    announce           INTEGER NOT NULL DEFAULT 0 CHECK (announce IN (0, 1)),
    next_milestone     INTEGER NOT NULL,
    next_milestone_day INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

CREATE INDEX sobriety_next_milestone_day ON sobriety (next_milestone_day);

-- Every milestone celebrated, per sobriety date: the key makes "celebrate once" a constraint,
-- also across restarts.
CREATE TABLE sobriety_milestones (
    guild_id      INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL,
    since_day     INTEGER NOT NULL,
    milestone     INTEGER NOT NULL,
    celebrated_at INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, since_day, milestone)
) WITHOUT ROWID;
