-- 0010: the waiting members' and volunteers' group in the queue and the offers, and the past pairs
-- in their own index (issue 9: `/buddy status` and matching read one index range instead of joining
-- every waiting member or every member of a group).

-- The waiting member's matching group: buddy_members.group_role_id (NULL without exactly one
-- group role), kept in step by the repository in the same transaction (enqueue, and every change
-- of the member's group roles). A member who left the server is never in the queue.
ALTER TABLE buddy_queue ADD COLUMN group_role_id INTEGER;

UPDATE buddy_queue SET group_role_id = (
    SELECT m.group_role_id FROM buddy_members m
    WHERE m.guild_id = buddy_queue.guild_id AND m.user_id = buddy_queue.user_id
);

-- Left by an earlier version: members who left while waiting are taken out (matching skipped them).
DELETE FROM buddy_queue WHERE EXISTS (
    SELECT 1 FROM buddy_members m
    WHERE m.guild_id = buddy_queue.guild_id AND m.user_id = buddy_queue.user_id AND m.left_at IS NOT NULL
);

-- A group's queue in queue order: a member's place is a count over one range, and matching for some
-- groups reads their waiting members from it alone.
CREATE INDEX buddy_queue_by_group ON buddy_queue (guild_id, group_role_id, first_in_line DESC, queued_at, user_id)
    WHERE group_role_id IS NOT NULL;

-- The whole queue in queue order, now with the group: matching for every group reads it from the
-- index alone, already in order.
DROP INDEX buddy_queue_order;
CREATE INDEX buddy_queue_order ON buddy_queue (guild_id, first_in_line DESC, queued_at, user_id, group_role_id);

-- The live pairs by group, now with the members: the matcher's current pairs (and a waiting
-- member's volunteers' loads, for /buddy status) come from the index alone.
DROP INDEX buddy_pairs_live_by_group;
CREATE INDEX buddy_pairs_live_by_group ON buddy_pairs (guild_id, group_role_id, status, buddy_id, member_id)
    WHERE status IN ('proposed', 'active');

-- The same copy for volunteers (set with the offer, kept in step with the member's group roles):
-- a group's available volunteers, with their maximum, are one range of an index.
ALTER TABLE buddy_volunteers ADD COLUMN group_role_id INTEGER;

UPDATE buddy_volunteers SET group_role_id = (
    SELECT m.group_role_id FROM buddy_members m
    WHERE m.guild_id = buddy_volunteers.guild_id AND m.user_id = buddy_volunteers.user_id
);

CREATE INDEX buddy_volunteers_by_group ON buddy_volunteers (guild_id, group_role_id, max_buddies)
    WHERE available = 1 AND group_role_id IS NOT NULL;

-- The ended and rejected pairs (never made again automatically), with everything the matcher reads
-- of them: a matching run over the whole server reads them from one range of the index alone.
CREATE INDEX buddy_pairs_past ON buddy_pairs (guild_id, member_id, buddy_id, status)
    WHERE status IN ('ended', 'rejected');
