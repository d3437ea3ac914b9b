-- 012_undo_failed: a failed group can be sent back to the review queue.
--
-- A group fails when its decision cannot be carried out: its chosen file or
-- its project folder is gone, a move could not be done, the decision is
-- invalid (groups.error says why). Once the cause is fixed (the file or the
-- folder is back, the permission given), `screend undo GROUP_ID`
-- (undo_group) takes it back like a decided or applied group: the files
-- its moves had already moved return where they were (through the daemon,
-- from the journal), or, when none was moved, it is back in the queue at
-- once. It waits for review with the reason taken_back, its failure kept in
-- take_backs.failure. A group that failed while waiting for review (its
-- project folder was gone) has no decision to take back.
--
-- The next human decision of such a group is not a correction: the
-- decision taken back was not judged wrong, it could not be carried out.
-- If the cause is not fixed, the daemon fails the group again, with the
-- reason.
--
-- (012 and not 008: 008 had landed when this was written, and migrations
-- that landed are never edited; 009-011 are reserved by other work.)

ALTER TABLE screend.take_backs ADD COLUMN IF NOT EXISTS failure text;

CREATE OR REPLACE FUNCTION screend.mark_correction() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.automatic AND NEW.correction_of IS NULL THEN
        NEW.correction_of := (
            SELECT CASE WHEN t.failure IS NULL THEN t.take_back_id END
            FROM screend.take_backs t
            WHERE t.group_id = NEW.group_id AND t.state = 'done'
            ORDER BY t.take_back_id DESC LIMIT 1);
    END IF;
    RETURN NEW;
END
$$;

-- undo_group takes back the decision of a group (decided, applied or
-- failed) and returns the take-back's id. reviewer is honoured only when
-- the caller is the daemon's own role (the review page records its
-- signed-in user); anyone else is recorded as their session user.
CREATE OR REPLACE FUNCTION screend.undo_group(group_id bigint, reviewer text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g screend.groups%ROWTYPE;
    d screend.decisions%ROWTYPE;
    who text;
    id bigint;
    moved boolean;
BEGIN
    who := session_user;
    IF reviewer IS NOT NULL AND session_user = (
            SELECT pg_get_userbyid(n.nspowner) FROM pg_namespace n WHERE n.nspname = 'screend') THEN
        who := reviewer;
    END IF;
    IF coalesce(who, '') = '' THEN
        RAISE EXCEPTION 'reviewer must be named' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO g FROM screend.groups WHERE groups.group_id = undo_group.group_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'group % does not exist', undo_group.group_id USING ERRCODE = 'no_data_found';
    END IF;
    IF EXISTS (SELECT 1 FROM screend.take_backs t WHERE t.group_id = g.group_id AND t.state <> 'done') THEN
        RAISE EXCEPTION 'group % is already being taken back', g.group_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF g.state NOT IN ('decided', 'applied', 'failed') THEN
        RAISE EXCEPTION 'group % is not decided (it is %): only a decided or failed group can be taken back', g.group_id, g.state
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO d FROM screend.decisions WHERE decisions.group_id = g.group_id;
    IF NOT FOUND AND g.state <> 'failed' THEN
        RAISE EXCEPTION 'group % has no decision', g.group_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Files of the group moved and not taken back yet (as the daemon's
    -- take-back reads the journal).
    moved := EXISTS (
        SELECT 1 FROM screend.file_moves m
        WHERE m.group_id = g.group_id AND m.state = 'done' AND m.take_back_id IS NULL
          AND m.move_id > coalesce((
            SELECT max(t.last_move_id) FROM screend.take_backs t WHERE t.group_id = g.group_id), 0));
    IF g.state = 'decided' OR (g.state = 'failed' AND NOT moved) THEN
        -- No file was moved: back to the queue at once.
        INSERT INTO screend.take_backs (group_id, requested_by, state, decision, failure, done_at)
        VALUES (g.group_id, who, 'done', CASE WHEN d.decision_id IS NOT NULL THEN to_jsonb(d) END,
                CASE WHEN g.state = 'failed' THEN coalesce(g.error, 'failed') END, now())
        RETURNING take_back_id INTO id;
        DELETE FROM screend.decisions WHERE decision_id = d.decision_id;
        UPDATE screend.groups SET state = 'flagged', flagged_at = now(), error = NULL, retry_after = NULL,
            reasons = array_append(array_remove(groups.reasons, 'taken_back'), 'taken_back')
        WHERE groups.group_id = g.group_id;
    ELSE
        INSERT INTO screend.take_backs (group_id, requested_by, failure)
        VALUES (g.group_id, who, CASE WHEN g.state = 'failed' THEN coalesce(g.error, 'failed') END)
        RETURNING take_back_id INTO id;
        PERFORM pg_notify('screend_take_back', g.group_id::text);
    END IF;
    RETURN id;
END
$$;
REVOKE ALL ON FUNCTION screend.undo_group(bigint, text) FROM PUBLIC;

-- A reviewer reads why a group taken back had failed.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'screend_reviewer') THEN
        GRANT EXECUTE ON FUNCTION screend.undo_group(bigint, text) TO screend_reviewer;
        GRANT SELECT (failure) ON screend.take_backs TO screend_reviewer;
    END IF;
END
$$;
