-- 005_apply: applying decisions that cannot stall, and least privilege for
-- reviewers.
--
-- Group states gain 'applying' (its file moves are journaled, not all done)
-- and 'failed' (its decision could not be carried out; groups.error says
-- why). A group is 'applied' only once every one of its moves is done.
--
-- The journal (file_moves) keeps one row per file operation, written before
-- the operation: kind ('move' renames src to dst, 'crop' writes a cropped
-- copy of src to dst, 'sidecar' writes content to dst) and state:
--   planned  not done yet; attempts > 0 means it failed that often (error
--            is the last reason) and is retried after retry_after
--   done     done: the file is at dst (for a 'move', src no longer exists)
--   failed   given up (error says why); the file is wherever it was
-- Reversing a group means reversing its 'done' rows of kind 'move', newest
-- first (dst back to src); 'crop' and 'sidecar' rows made new files.
-- claimed_by is the instance carrying a planned row out; a row claimed by an
-- instance that is gone is free again.

-- The states above. Another migration may add states of its own to the same
-- check, so the allowed values are extended rather than replaced.
DO $$
DECLARE
    old text;
    vals text[];
BEGIN
    SELECT pg_get_constraintdef(oid) INTO old FROM pg_constraint
    WHERE conrelid = 'screend.groups'::regclass AND conname = 'groups_state_check';
    SELECT array_agg(DISTINCT v) INTO vals FROM (
        SELECT (regexp_matches(old, '''([a-z_]+)''', 'g'))[1] AS v
        UNION SELECT unnest(ARRAY['applying', 'failed'])) s;
    ALTER TABLE screend.groups DROP CONSTRAINT groups_state_check;
    EXECUTE format('ALTER TABLE screend.groups ADD CONSTRAINT groups_state_check CHECK (state = ANY (%L::text[]))', vals);
END
$$;
-- error is why applying the group's decision failed (or last failed, while
-- retry_after delays the next attempt to plan it).
ALTER TABLE screend.groups
    ADD COLUMN IF NOT EXISTS error       text,
    ADD COLUMN IF NOT EXISTS retry_after timestamptz;

ALTER TABLE screend.file_moves
    ADD COLUMN IF NOT EXISTS attempts    integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS retry_after timestamptz,
    ADD COLUMN IF NOT EXISTS claimed_by  integer REFERENCES screend.instances ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS file_moves_group_idx ON screend.file_moves (group_id, move_id);

-- instance_alive looks at the locks of the current database only: another
-- deployment on the same cluster numbers its instances too.
CREATE OR REPLACE FUNCTION screend.instance_alive(id integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory'
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid = 1935897189 AND objid = id AND objsubid = 2 AND granted)
$$;

-- screend_reviewer is the role people who review are granted: EXECUTE on
-- resolve_group and reject_group, SELECT on the review and agreement views
-- (007 adds undo_group and the history view), nothing else. Roles belong to the cluster, so it may exist already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'screend_reviewer') THEN
        BEGIN
            CREATE ROLE screend_reviewer NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL; -- created meanwhile by the migration of another database
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'the role screend_reviewer does not exist and % may not create it', current_user
                    USING HINT = 'as a superuser run: CREATE ROLE screend_reviewer NOLOGIN; then run screend migrate again';
        END;
    END IF;
END
$$;

-- Functions are executable by everyone unless revoked; in this schema only
-- the grants below count.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA screend FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA screend REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- reviewable locks a group waiting for review and returns it, or raises the
-- error a reviewer should see. Called by resolve_group and reject_group.
CREATE OR REPLACE FUNCTION screend.reviewable(group_id bigint) RETURNS screend.groups
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g screend.groups%ROWTYPE;
BEGIN
    IF group_id IS NULL THEN
        RAISE EXCEPTION 'group_id is NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO g FROM screend.groups WHERE groups.group_id = reviewable.group_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'group % does not exist', reviewable.group_id USING ERRCODE = 'no_data_found';
    END IF;
    IF g.state <> 'flagged' THEN
        RAISE EXCEPTION 'group % is not waiting for review (it is %)', g.group_id, g.state
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN g;
END
$$;

-- reviewer_name is who is recorded as deciding: the session's login name.
-- Only the daemon's own connection (its role, or a superuser) may record on
-- behalf of someone else, such as a user its review page authenticated.
CREATE OR REPLACE FUNCTION screend.reviewer_name(reviewer text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF reviewer IS NULL OR reviewer = session_user THEN
        RETURN session_user;
    END IF;
    IF reviewer = '' THEN
        RAISE EXCEPTION 'reviewer must be named' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- In a SECURITY DEFINER function current_user is the schema's owner.
    IF NOT pg_has_role(session_user, current_user, 'MEMBER') THEN
        RAISE EXCEPTION 'reviewer is recorded as the login name (%): only the daemon may name another reviewer', session_user
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN reviewer;
END
$$;

-- record_human_decision stores a human decision for a locked group and
-- tells the daemon (NOTIFY screend_resolved).
CREATE OR REPLACE FUNCTION screend.record_human_decision(
    g screend.groups, outcome text, chosen_image_id bigint, crop real[], reviewer text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    decision bigint;
BEGIN
    INSERT INTO screend.decisions (group_id, outcome, chosen_image_id, crop, automatic, decided_by,
        suggested_outcome, suggested_image_id, suggested_crop, confidence, model_id, reasons)
    VALUES (g.group_id, outcome, chosen_image_id, crop, false, reviewer,
        g.suggested_outcome, g.suggested_image_id, g.suggested_crop, g.confidence, g.model_id, g.reasons)
    RETURNING decision_id INTO decision;
    UPDATE screend.groups SET state = 'decided' WHERE groups.group_id = g.group_id;
    PERFORM pg_notify('screend_resolved', g.group_id::text);
    RETURN decision;
END
$$;

DROP FUNCTION IF EXISTS screend.resolve_group(bigint, bigint, real[], text, boolean);

-- resolve_group records a human decision for a flagged group: keep
-- chosen_image_id, uncropped (crop NULL), cropped to crop (a normalised box
-- x1, y1, x2, y2 with the image's aspect ratio, at least 16 pixels a side;
-- free_aspect => true allows another ratio), or kept for cropping by hand
-- (manual_crop => true, it goes to __crop/). A NULL image is an error: to
-- reject the whole group call reject_group. The reviewer recorded is the
-- login name (see reviewer_name). The daemon is told at once and moves the
-- files within seconds.
CREATE FUNCTION screend.resolve_group(
    group_id bigint,
    chosen_image_id bigint,
    crop real[] DEFAULT NULL,
    reviewer text DEFAULT NULL,
    manual_crop boolean DEFAULT false,
    free_aspect boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g screend.groups;
    who text;
    w integer;
    h integer;
    cw double precision;
    ch double precision;
BEGIN
    g := screend.reviewable(resolve_group.group_id);
    IF chosen_image_id IS NULL THEN
        RAISE EXCEPTION 'chosen_image_id is NULL: to reject the whole group call screend.reject_group(%)', g.group_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT o.width, o.height INTO w, h
    FROM screend.group_images gi
    JOIN screend.images i ON i.image_id = gi.image_id
    JOIN screend.images o ON o.image_id = coalesce(i.duplicate_of, i.image_id)
    WHERE gi.group_id = g.group_id AND gi.image_id = chosen_image_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'image % is not in group %', chosen_image_id, g.group_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF crop IS NOT NULL AND coalesce(manual_crop, false) THEN
        RAISE EXCEPTION 'give either a crop box or manual_crop, not both'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF crop IS NOT NULL THEN
        IF NOT (array_ndims(crop) = 1 AND cardinality(crop) = 4 AND array_position(crop, NULL) IS NULL
                AND crop[1] >= 0 AND crop[2] >= 0 AND crop[3] <= 1 AND crop[4] <= 1
                AND crop[1] < crop[3] AND crop[2] < crop[4]
                AND 'NaN' NOT IN (crop[1], crop[2], crop[3], crop[4])) THEN
            RAISE EXCEPTION 'bad crop box %: want {x1,y1,x2,y2} normalised to [0,1] with x1 < x2 and y1 < y2', crop
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        cw := crop[3] - crop[1];
        ch := crop[4] - crop[2];
        IF w IS NOT NULL AND h IS NOT NULL AND (cw * w < 16 OR ch * h < 16) THEN
            RAISE EXCEPTION 'crop box % is too small: % x % pixels of a % x % image, at least 16 a side',
                crop, round(cw * w), round(ch * h), w, h
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- Normalised coordinates keep the image's aspect ratio when the box
        -- is as wide as it is high (within 1%, or a pixel of rounding).
        IF NOT coalesce(free_aspect, false)
           AND abs(cw - ch) > greatest(0.01 * ch, 1.0 / least(coalesce(w, 100), coalesce(h, 100))) THEN
            RAISE EXCEPTION 'crop box % changes the image''s aspect ratio: % of the width but % of the height', crop,
                round(cw::numeric, 3), round(ch::numeric, 3)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'pass free_aspect => true to crop to another aspect ratio';
        END IF;
    END IF;
    who := screend.reviewer_name(reviewer);
    RETURN screend.record_human_decision(g,
        CASE WHEN coalesce(manual_crop, false) THEN 'manual_crop' WHEN crop IS NOT NULL THEN 'crop' ELSE 'select' END,
        chosen_image_id, crop, who);
END
$$;

-- reject_group records a human decision to reject every image of a flagged
-- group (they go to __delete_staging/).
CREATE OR REPLACE FUNCTION screend.reject_group(group_id bigint, reviewer text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g screend.groups;
BEGIN
    g := screend.reviewable(reject_group.group_id);
    RETURN screend.record_human_decision(g, 'reject', NULL, NULL, screend.reviewer_name(reviewer));
END
$$;

GRANT USAGE ON SCHEMA screend TO screend_reviewer;
GRANT EXECUTE ON FUNCTION screend.resolve_group(bigint, bigint, real[], text, boolean, boolean),
    screend.reject_group(bigint, text) TO screend_reviewer;
GRANT SELECT ON screend.review_queue, screend.model_agreement TO screend_reviewer;
