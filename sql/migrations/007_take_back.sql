-- 007_take_back: taking back any decided group, automatic or human.
--
-- screend.undo_group(group_id) asks for it. A group whose files were not
-- moved yet (state 'decided') returns to the review queue at once. For an
-- applied group the daemon moves every file back where the journal says it
-- was, journaling the reverse moves first (file_moves.take_back_id), moves
-- crop outputs and sidecars to __delete_staging/, leaves a file that
-- changed since where it is (listed in the take-back's report), and only
-- then puts the group back in the review queue. The decision that was taken
-- back is kept in take_backs.decision; the next human decision of the group
-- records the take-back it corrects (decisions.correction_of).

CREATE TABLE IF NOT EXISTS screend.take_backs (
    take_back_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id      bigint      NOT NULL REFERENCES screend.groups,
    requested_by  text        NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    -- requested: waiting for the daemon; moving: reverse moves journaled;
    -- done: the group waits for review again.
    state         text        NOT NULL DEFAULT 'requested' CHECK (state IN ('requested', 'moving', 'done')),
    -- last_move_id is the newest journal row of the group when the reverse
    -- moves were planned; a later take-back reverses only newer rows.
    last_move_id  bigint,
    -- decision is the decision taken back, as it was (a row of decisions).
    decision      jsonb,
    -- report lists the files left where they were: [{"path", "reason"}].
    report        jsonb       NOT NULL DEFAULT '[]',
    done_at       timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS take_backs_open_key ON screend.take_backs (group_id) WHERE state <> 'done';

ALTER TABLE screend.file_moves ADD COLUMN IF NOT EXISTS
    take_back_id bigint REFERENCES screend.take_backs;
ALTER TABLE screend.decisions ADD COLUMN IF NOT EXISTS
    correction_of bigint REFERENCES screend.take_backs;

-- mark_correction records, on a human decision of a group that was taken
-- back, which take-back it corrects: a training example like any human
-- decision, and counted as a correction in model_agreement.
CREATE OR REPLACE FUNCTION screend.mark_correction() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.automatic AND NEW.correction_of IS NULL THEN
        NEW.correction_of := (
            SELECT t.take_back_id FROM screend.take_backs t
            WHERE t.group_id = NEW.group_id AND t.state = 'done'
            ORDER BY t.take_back_id DESC LIMIT 1);
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS decisions_mark_correction ON screend.decisions;
CREATE TRIGGER decisions_mark_correction BEFORE INSERT ON screend.decisions
    FOR EACH ROW EXECUTE FUNCTION screend.mark_correction();

-- undo_group takes back the decision of a group (decided or applied) and
-- returns the take-back's id. reviewer is honoured only when the caller is
-- the daemon's own role (the review page records its signed-in user);
-- anyone else is recorded as their session user.
CREATE OR REPLACE FUNCTION screend.undo_group(group_id bigint, reviewer text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    g screend.groups%ROWTYPE;
    d screend.decisions%ROWTYPE;
    who text;
    id bigint;
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
    IF g.state NOT IN ('decided', 'applied') THEN
        RAISE EXCEPTION 'group % is not decided (it is %): only a decided group can be taken back', g.group_id, g.state
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO d FROM screend.decisions WHERE decisions.group_id = g.group_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'group % has no decision', g.group_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF g.state = 'decided' THEN
        -- No file was moved yet: back to the queue at once.
        INSERT INTO screend.take_backs (group_id, requested_by, state, decision, done_at)
        VALUES (g.group_id, who, 'done', to_jsonb(d), now())
        RETURNING take_back_id INTO id;
        DELETE FROM screend.decisions WHERE decision_id = d.decision_id;
        UPDATE screend.groups SET state = 'flagged', flagged_at = now(),
            reasons = array_append(array_remove(groups.reasons, 'taken_back'), 'taken_back')
        WHERE groups.group_id = g.group_id;
    ELSE
        INSERT INTO screend.take_backs (group_id, requested_by)
        VALUES (g.group_id, who)
        RETURNING take_back_id INTO id;
        PERFORM pg_notify('screend_take_back', g.group_id::text);
    END IF;
    RETURN id;
END
$$;

-- decision_history lists every decided group, automatic and human, newest
-- first, with what the model suggested and any take-back under way.
CREATE OR REPLACE VIEW screend.decision_history AS
SELECT
    d.group_id,
    p.name AS project,
    d.decision_id,
    d.outcome,
    d.chosen_image_id,
    d.crop,
    d.automatic,
    d.decided_by,
    d.decided_at,
    d.suggested_outcome,
    d.suggested_image_id,
    d.confidence,
    d.model_id,
    d.reasons,
    d.correction_of,
    g.state AS group_state,
    (SELECT t.state FROM screend.take_backs t
     WHERE t.group_id = d.group_id AND t.state <> 'done') AS take_back_state,
    (SELECT jsonb_agg(jsonb_build_object('image_id', i.image_id, 'path', i.path, 'stage', i.stage)
            ORDER BY gi.position)
     FROM screend.group_images gi JOIN screend.images i ON i.image_id = gi.image_id
     WHERE gi.group_id = d.group_id) AS images
FROM screend.decisions d
JOIN screend.groups g ON g.group_id = d.group_id
JOIN screend.projects p ON p.project_id = g.project_id;

-- model_agreement gains the number of human decisions that corrected a
-- decision taken back.
CREATE OR REPLACE VIEW screend.model_agreement AS
SELECT
    p.name AS project,
    d.model_id,
    count(*) AS decisions,
    count(*) FILTER (WHERE
        (CASE d.outcome WHEN 'manual_crop' THEN 'crop' ELSE d.outcome END) = d.suggested_outcome
        AND d.chosen_image_id IS NOT DISTINCT FROM d.suggested_image_id) AS agreed,
    round(avg(CASE WHEN
        (CASE d.outcome WHEN 'manual_crop' THEN 'crop' ELSE d.outcome END) = d.suggested_outcome
        AND d.chosen_image_id IS NOT DISTINCT FROM d.suggested_image_id THEN 1 ELSE 0 END), 4) AS agreement_rate,
    count(*) FILTER (WHERE d.correction_of IS NOT NULL) AS corrections
FROM screend.decisions d
JOIN screend.groups g USING (group_id)
JOIN screend.projects p USING (project_id)
WHERE NOT d.automatic AND d.suggested_outcome IS NOT NULL
GROUP BY p.name, d.model_id;

-- The reviewer role may take back decisions and read the history. It is
-- created here when the migrating role may create roles; otherwise the
-- grants wait for whoever creates it (see the README).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'screend_reviewer') THEN
        BEGIN
            CREATE ROLE screend_reviewer NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'role screend_reviewer not created: no CREATEROLE';
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'screend_reviewer') THEN
        GRANT USAGE ON SCHEMA screend TO screend_reviewer;
        GRANT EXECUTE ON FUNCTION screend.undo_group(bigint, text) TO screend_reviewer;
        GRANT SELECT ON screend.decision_history, screend.take_backs TO screend_reviewer;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION screend.undo_group(bigint, text) FROM PUBLIC;
