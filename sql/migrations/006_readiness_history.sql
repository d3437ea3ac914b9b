-- 006_readiness_history: how far the active model is from deciding alone, a
-- review queue ordered by what a resolution teaches the model, and
-- historical images embedded where they lie.

-- model_readiness has one row per outcome kind for the active model: whether
-- the kind is automated, of the most recent reviewed groups (recent) how
-- many the model would have decided alone with that kind (alone; judged
-- out of fold, with thresholds certified without them) and how many of
-- those wrongly (wrong), and about how many more reviewed groups the kind
-- needs to be certified (more_reviews: 0 when automated, -1 when its error
-- is above the target whatever the number of reviews). reviews_since
-- counts the human decisions made since the model was trained.
CREATE OR REPLACE VIEW screend.model_readiness AS
SELECT
    m.model_id,
    r.kind,
    r.automated,
    r.recent,
    r.alone,
    r.wrong,
    r.more_reviews,
    (SELECT count(*) FROM screend.decisions d
     WHERE NOT d.automatic AND d.decided_at > m.created_at)::integer AS reviews_since
FROM screend.models m
CROSS JOIN LATERAL jsonb_to_recordset(coalesce(m.params -> 'readiness', '[]'::jsonb))
    AS r(kind text, automated boolean, recent integer, alone integer, wrong integer, more_reviews integer)
WHERE m.state = 'active';

-- review_queue, most useful first: the groups whose resolution teaches the
-- model most. First groups no model has scored (nothing is known about
-- them), then groups flagged unfamiliar (unlike anything the model was
-- trained on), then the rest by confidence, lowest first (the model is
-- least sure: the decision moves it most), then the oldest.
CREATE OR REPLACE VIEW screend.review_queue AS
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
ORDER BY g.confidence IS NOT NULL,
         'unfamiliar' = ANY (g.reasons) DESC,
         g.confidence ASC,
         g.flagged_at, g.group_id;

-- history_images are historical image files embedded where they lie by
-- `screend import images`, read-only: they are not in the inbox, never
-- grouped, moved or reviewed. Imported log decisions whose files are found
-- here (by project and file name) become training examples. One row per
-- file and embedder; reason is set (and embedding NULL) when the file
-- could not be embedded.
CREATE TABLE IF NOT EXISTS screend.history_images (
    history_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    path        text        NOT NULL,
    project     text        NOT NULL,
    file_name   text        NOT NULL,
    size        bigint      NOT NULL,
    mtime       timestamptz NOT NULL,
    stage       real        NOT NULL,
    width       integer,
    height      integer,
    embedder_id integer     NOT NULL REFERENCES screend.embedders,
    embedding   vector,
    reason      text,
    imported_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (path, embedder_id),
    CHECK ((embedding IS NULL) = (reason IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS history_images_name_idx ON screend.history_images (project, file_name);
