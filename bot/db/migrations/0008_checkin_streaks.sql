-- 0008: each member's streaks, stored, so that a check-in reads one row instead of its whole
-- history (about 310 days a year). One row per member and server with at least one check-in, kept
-- in the same transaction as every change of their check-in days: run_start and run_end are the
-- first and last local day (epoch days) of their latest run of consecutive days with a check-in
-- (run_end is their latest check-in day), longest the length of their longest run ever. The
-- current streak is derived when read: the latest run's length if run_end is today or yesterday
-- in the member's timezone, else 0. Erased with the member's data, and with the server (cascade).
CREATE TABLE checkin_streaks (
    guild_id  INTEGER NOT NULL REFERENCES guilds (guild_id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL,
    run_start INTEGER NOT NULL,
    run_end   INTEGER NOT NULL,
    longest   INTEGER NOT NULL,
    CHECK (run_start <= run_end AND longest >= run_end - run_start + 1),
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

-- The streaks of the check-ins already stored (gaps and islands): within a member's days in order,
-- day - row_number() is the same for every day of one run.
INSERT INTO checkin_streaks (guild_id, user_id, run_start, run_end, longest)
WITH numbered AS (
    SELECT guild_id, user_id, day,
           day - row_number() OVER (PARTITION BY guild_id, user_id ORDER BY day) AS island
    FROM checkins
),
runs AS (
    SELECT guild_id, user_id, min(day) AS run_start, max(day) AS run_end
    FROM numbered
    GROUP BY guild_id, user_id, island
),
ranked AS (
    SELECT guild_id, user_id, run_start, run_end,
           max(run_end - run_start + 1) OVER (PARTITION BY guild_id, user_id) AS longest,
           row_number() OVER (PARTITION BY guild_id, user_id ORDER BY run_end DESC) AS newest
    FROM runs
)
SELECT guild_id, user_id, run_start, run_end, longest FROM ranked WHERE newest = 1;
