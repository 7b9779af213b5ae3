-- 0011: matching reads its inputs from fewer rows and writes fewer index entries (issue 9).

-- The whole queue's order index goes: matching reads each group's queue, in order, from
-- buddy_queue_by_group (and stops when the group's places are given); only the moderators' page
-- of the whole queue sorts the server's queue (a few ms for 10,000 waiting members). Taking 5,000
-- matched members out of the queue no longer updates a third b-tree.
DROP INDEX buddy_queue_order;

-- Offers keep a copy of the member's join time (a volunteer's eligibility and seniority), so a
-- group's available volunteers come from one range of an index alone, not one lookup of the member
-- per volunteer. Kept in step by triggers: set from the member when the offer is made, moved when
-- the member's join time changes (a member who comes back).
ALTER TABLE buddy_volunteers ADD COLUMN joined_at INTEGER;

UPDATE buddy_volunteers SET joined_at = (
    SELECT m.joined_at FROM buddy_members m
    WHERE m.guild_id = buddy_volunteers.guild_id AND m.user_id = buddy_volunteers.user_id
);

CREATE TRIGGER buddy_volunteers_joined_at AFTER INSERT ON buddy_volunteers
BEGIN
    UPDATE buddy_volunteers SET joined_at = (
        SELECT m.joined_at FROM buddy_members m WHERE m.guild_id = NEW.guild_id AND m.user_id = NEW.user_id
    )
    WHERE guild_id = NEW.guild_id AND user_id = NEW.user_id;
END;

CREATE TRIGGER buddy_members_joined_at AFTER UPDATE OF joined_at ON buddy_members
BEGIN
    UPDATE buddy_volunteers SET joined_at = NEW.joined_at
    WHERE guild_id = NEW.guild_id AND user_id = NEW.user_id;
END;

-- An available offer is always of a member still in the server (leaving withdraws it: the
-- repository's mark_left); older rows that say otherwise are withdrawn here, so matching need not
-- look the member up.
UPDATE buddy_volunteers SET available = 0
WHERE available = 1 AND EXISTS (
    SELECT 1 FROM buddy_members m
    WHERE m.guild_id = buddy_volunteers.guild_id AND m.user_id = buddy_volunteers.user_id AND m.left_at IS NOT NULL
);

DROP INDEX buddy_volunteers_by_group;
CREATE INDEX buddy_volunteers_by_group ON buddy_volunteers (guild_id, group_role_id, joined_at, max_buddies)
    WHERE available = 1 AND group_role_id IS NOT NULL;
