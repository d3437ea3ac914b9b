-- 017_final_groups: images know when their group is final.
--
-- An image's group is final once it is no longer 'open': no group goes
-- back to 'open', and only open groups gain or lose members. Regroup and
-- the settle check look for a project's images in no final group, and
-- found them by joining every image of the project to its group: with
-- 30,000 decided images in a project, 80 ms of PostgreSQL's CPU per
-- regroup, twice a second during a drop, and about as much every second
-- for every quiet project in the settle check, idle or not.
--
-- images.in_final_group says it, kept by the two triggers below for every
-- writer (a group closing, or a member added to a group that is not
-- open), and the partial index holds only the images still waiting for a
-- final group.
ALTER TABLE screend.images ADD COLUMN IF NOT EXISTS in_final_group boolean NOT NULL DEFAULT false;

UPDATE screend.images i SET in_final_group = true
FROM screend.group_images gi JOIN screend.groups g USING (group_id)
WHERE gi.image_id = i.image_id AND g.state <> 'open' AND NOT i.in_final_group;

CREATE INDEX IF NOT EXISTS images_unfinal_idx ON screend.images (project_id, image_id)
    WHERE NOT in_final_group AND state IN ('discovered', 'embedded', 'duplicate');
-- A project's open groups, for the same two and Regroup's deletion.
CREATE INDEX IF NOT EXISTS groups_open_idx ON screend.groups (project_id, group_id)
    WHERE state = 'open';

CREATE OR REPLACE FUNCTION screend.group_closed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE screend.images i SET in_final_group = true
    FROM screend.group_images gi
    WHERE gi.group_id = NEW.group_id AND i.image_id = gi.image_id AND NOT i.in_final_group;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS groups_final ON screend.groups;
CREATE TRIGGER groups_final AFTER UPDATE OF state ON screend.groups
    FOR EACH ROW WHEN (OLD.state = 'open' AND NEW.state <> 'open')
    EXECUTE FUNCTION screend.group_closed();

CREATE OR REPLACE FUNCTION screend.member_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE screend.images i SET in_final_group = true
    WHERE i.image_id = NEW.image_id AND NOT i.in_final_group
      AND EXISTS (SELECT 1 FROM screend.groups g WHERE g.group_id = NEW.group_id AND g.state <> 'open');
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS group_images_final ON screend.group_images;
CREATE TRIGGER group_images_final AFTER INSERT ON screend.group_images
    FOR EACH ROW EXECUTE FUNCTION screend.member_added();
