-- 003_learn: what importing the old workflow's logs and training need.
--
-- imported_decisions keeps everything the log said about a row, so that
-- nothing has to be guessed again when the row becomes a training example:
-- the log format, the candidates' stages and sizes (in candidate_files
-- order), and what is known about the crop (crop_status, see
-- training/importlog: 'box' with crop set, 'full_frame' for a no-op crop,
-- 'no_coords' when the image was cropped but the log has no box,
-- 'dropped' when the logged box was invalid, 'not_logged' when the format
-- records no crops). decided_at is NULL when the log has no decision time
-- (the crop logs' timestamp is the image's generation time, kept in
-- time_raw).
ALTER TABLE screend.imported_decisions
    ADD COLUMN format            text,
    ADD COLUMN session_id        text,
    ADD COLUMN time_raw          text,
    ADD COLUMN time_has_zone     boolean,
    ADD COLUMN candidate_stages  real[],
    ADD COLUMN candidate_widths  integer[],
    ADD COLUMN candidate_heights integer[],
    ADD COLUMN crop_status       text,
    ADD COLUMN duplicate_of      integer;

-- A line can lose several parts for the same reason (two repeated
-- candidates): rejects are numbered within their line, and say which part
-- of the row they dropped ('row', 'crop' or 'candidate').
ALTER TABLE screend.import_rejects
    DROP CONSTRAINT import_rejects_pkey,
    ADD COLUMN part text NOT NULL DEFAULT 'row',
    ADD COLUMN seq  integer NOT NULL DEFAULT 0,
    ADD PRIMARY KEY (source, line, seq);

-- Imported decisions are matched to images by file name within a project.
CREATE INDEX images_file_name_idx ON screend.images (project_id, file_name);
