-- 002_review: the review queue, resolving groups in SQL, and agreement
-- between the model and the humans.

-- review_queue lists the groups waiting for a human, most useful first:
-- groups the model is least sure of (no model at all counts as least sure),
-- then the oldest. Resolving the first rows teaches the model the most.
CREATE VIEW screend.review_queue AS
SELECT
    g.group_id,
    p.name AS project,
    g.flagged_at,
    g.reasons,
    g.confidence,
    g.suggested_outcome,
    g.suggested_image_id,
    g.suggested_crop,
    g.model_id,
    (SELECT jsonb_agg(jsonb_build_object(
                'image_id', i.image_id, 'path', i.path, 'stage', i.stage, 'score', gi.score,
                'width', o.width, 'height', o.height)
            ORDER BY gi.position)
     FROM screend.group_images gi
     JOIN screend.images i ON i.image_id = gi.image_id
     JOIN screend.images o ON o.image_id = coalesce(i.duplicate_of, i.image_id)
     WHERE gi.group_id = g.group_id) AS images
FROM screend.groups g
JOIN screend.projects p USING (project_id)
WHERE g.state = 'flagged'
ORDER BY g.confidence ASC NULLS FIRST, g.flagged_at, g.group_id;

-- resolve_group records a human decision for a flagged group: chosen_image_id
-- NULL rejects the whole group; crop is a normalised box (x1, y1, x2, y2)
-- or NULL for no crop; manual_crop keeps the chosen image for cropping by
-- hand later (it goes to __crop/). The daemon is told at once (NOTIFY
-- screend_resolved) and moves the files within seconds.
CREATE FUNCTION screend.resolve_group(
    group_id bigint,
    chosen_image_id bigint,
    crop real[] DEFAULT NULL,
    reviewer text DEFAULT current_user,
    manual_crop boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    g screend.groups%ROWTYPE;
    decision bigint;
    outcome text;
BEGIN
    SELECT * INTO g FROM screend.groups WHERE groups.group_id = resolve_group.group_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'group % does not exist', resolve_group.group_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF g.state <> 'flagged' THEN
        RAISE EXCEPTION 'group % is not waiting for review (it is %)', g.group_id, g.state
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF chosen_image_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM screend.group_images gi
        WHERE gi.group_id = g.group_id AND gi.image_id = chosen_image_id) THEN
        RAISE EXCEPTION 'image % is not in group %', chosen_image_id, g.group_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF chosen_image_id IS NULL AND (crop IS NOT NULL OR manual_crop) THEN
        RAISE EXCEPTION 'a rejected group has no crop: give chosen_image_id to keep an image'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF crop IS NOT NULL AND manual_crop THEN
        RAISE EXCEPTION 'give either a crop box or manual_crop, not both'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF crop IS NOT NULL AND NOT (
        array_ndims(crop) = 1 AND cardinality(crop) = 4
        AND crop[1] >= 0 AND crop[2] >= 0 AND crop[3] <= 1 AND crop[4] <= 1
        AND crop[1] < crop[3] AND crop[2] < crop[4]) THEN
        RAISE EXCEPTION 'bad crop box %: want {x1,y1,x2,y2} normalised to [0,1] with x1 < x2 and y1 < y2', crop
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(reviewer, '') = '' THEN
        RAISE EXCEPTION 'reviewer must be named' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    outcome := CASE
        WHEN chosen_image_id IS NULL THEN 'reject'
        WHEN manual_crop THEN 'manual_crop'
        WHEN crop IS NOT NULL THEN 'crop'
        ELSE 'select' END;
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

-- model_agreement: how often the humans agreed with what the model
-- suggested, per project and model version. Agreement means the same
-- outcome kind and the same image (a manual crop counts as a crop).
CREATE VIEW screend.model_agreement AS
SELECT
    p.name AS project,
    d.model_id,
    count(*) AS decisions,
    count(*) FILTER (WHERE
        (CASE d.outcome WHEN 'manual_crop' THEN 'crop' ELSE d.outcome END) = d.suggested_outcome
        AND d.chosen_image_id IS NOT DISTINCT FROM d.suggested_image_id) AS agreed,
    round(avg(CASE WHEN
        (CASE d.outcome WHEN 'manual_crop' THEN 'crop' ELSE d.outcome END) = d.suggested_outcome
        AND d.chosen_image_id IS NOT DISTINCT FROM d.suggested_image_id THEN 1 ELSE 0 END), 4) AS agreement_rate
FROM screend.decisions d
JOIN screend.groups g USING (group_id)
JOIN screend.projects p USING (project_id)
WHERE NOT d.automatic AND d.suggested_outcome IS NOT NULL
GROUP BY p.name, d.model_id;
