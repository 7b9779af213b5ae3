-- 0015: a group's available volunteers are listed in the order matching offers their places
-- (issue 9): by join time, then user id.
--
-- The index kept max_buddies before the user id (the table's key, which SQLite appends), so a
-- group's volunteers came out by join time, then maximum, then id, and matching sorted them again
-- in Python (two sorts of every volunteer of the server, by id and by join time, and a copy to
-- drop repeats). With the user id before the maximum, one range of the index gives each group's
-- volunteers already in that order: the matcher reads (user_id, group_role_id, max_buddies) and
-- neither the join time nor a constant "available" column. The index also holds `available`
-- (always 1 in it): SQLite 3.40 reads the table row to test a query's `available = 1` even when
-- the partial index's own condition implies it, so without it the index does not cover the read.
-- Before this, the query ran on the table's key (every offer of the server, in id order), since
-- the index needed a lookup for it too. Counted with callgrind on the bench data (3,000
-- volunteers, 50 groups): see bench/README.md, "Matching", fifth pass.

DROP INDEX buddy_volunteers_by_group;
CREATE INDEX buddy_volunteers_by_group
    ON buddy_volunteers (guild_id, group_role_id, joined_at, user_id, max_buddies, available)
    WHERE available = 1 AND group_role_id IS NOT NULL;
