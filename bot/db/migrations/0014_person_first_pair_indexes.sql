-- 0014: two of the pairs' indexes lead with the members' ids, not the server's (issue 9).
--
-- SQLite compares a key with the entries of an index in a fast path while their first fields
-- differ (an integer against an integer: ~30 instructions) and only compares the whole records
-- when they are equal (~100-150). Every entry of an index led by guild_id has the same first
-- field in a server (in the whole file, for a bot that serves one community), so every one of the
-- ~9 comparisons of every seek and insert took the slow path. Counted with callgrind on the bench
-- data (a matching run writing 5,000 pairs, each entering both indexes): 338.4 -> 329.5 million
-- instructions (-2.6 %).
--
-- Lookups by a member (the pairs a buddy supports, a buddy's load, the live pair of two members)
-- give every column of these indexes by equality, so the order changes no plan. The statements
-- that read the server's pairs as a range of guild_id (a privacy export or erasure, the
-- moderators' lists, counts) were served by buddy_pairs_by_buddy and are now by
-- buddy_pairs_by_member, which keeps guild_id first for them: no statement scans the table. The
-- uniqueness of one live pair per two members is the same set of columns.

DROP INDEX buddy_pairs_by_buddy;
CREATE INDEX buddy_pairs_by_buddy ON buddy_pairs (buddy_id, guild_id, status);

DROP INDEX buddy_pairs_one_live;
CREATE UNIQUE INDEX buddy_pairs_one_live ON buddy_pairs (min(member_id, buddy_id), max(member_id, buddy_id), guild_id)
    WHERE status IN ('proposed', 'active');
