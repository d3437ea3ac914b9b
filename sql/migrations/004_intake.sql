-- 004_intake: file names that are not UTF-8, decode attempts, and files
-- seen but not yet stable.
--
-- Linux file names are bytes. PostgreSQL text must be UTF-8, so a path that
-- is not keeps a readable form in the text column (each byte that is not
-- UTF-8 written as \xNN) and its exact bytes in the *_raw column beside it;
-- *_raw is NULL for every ordinary path. screend.fs_path gives the bytes
-- to use on the file system either way.
ALTER TABLE screend.images ADD COLUMN IF NOT EXISTS path_raw bytea;
ALTER TABLE screend.file_moves ADD COLUMN IF NOT EXISTS src_raw bytea;
ALTER TABLE screend.projects ADD COLUMN IF NOT EXISTS name_raw bytea;
ALTER TABLE screend.file_moves ADD COLUMN IF NOT EXISTS dst_raw bytea;

-- A path is its bytes: two names with the same readable form (a byte 0xFF,
-- and the four characters \xFF) are two files.
DROP INDEX IF EXISTS screend.images_path_key;
CREATE UNIQUE INDEX IF NOT EXISTS images_fs_path_key ON screend.images (path, (coalesce(path_raw, '\x'::bytea)));

CREATE OR REPLACE FUNCTION screend.fs_path(readable text, raw bytea) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT coalesce(raw, convert_to(readable, 'UTF8'))
$$;

-- decodes counts the decodes of an image begun and not finished (reset
-- when its file changes). A file that was being decoded every time an
-- instance died (a decoder crash, or the kernel's OOM killer) is
-- quarantined as crashed_decoder instead of killing every start.
ALTER TABLE screend.images ADD COLUMN IF NOT EXISTS decodes integer NOT NULL DEFAULT 0;

-- files_waiting is how many files an instance's watcher has seen but not
-- yet recorded (still being written, or waiting to be tried again); status
-- counts those of live instances as pending.
ALTER TABLE screend.instances ADD COLUMN IF NOT EXISTS files_waiting integer NOT NULL DEFAULT 0;
