-- 001_init: the schema screend keeps all of its state in.
--
-- Life of a file: a row in images (state 'discovered') -> claimed by one
-- instance -> 'embedded' (a row in embeddings) or 'duplicate' (same content
-- as an earlier image) or 'quarantined' (with a reason). Groups are formed
-- from a project's images by the nearest-up rule: 'open' while a file that
-- could still arrive might change them, then 'closed', then scored into
-- 'decided' (automatic) or 'flagged' (waiting for a human), and 'applied'
-- once every file move of its decision is done. File moves are journaled in
-- file_moves before they happen.

CREATE EXTENSION IF NOT EXISTS vector;

-- instances are the running daemons. Each holds the session advisory lock
-- (lock_class, instance_id) for its whole life, so a claim by an instance
-- whose lock is gone (killed, disconnected) is stale at once.
CREATE TABLE screend.instances (
    instance_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hostname    text        NOT NULL,
    pid         integer     NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now()
);

-- instance_alive tells whether the instance still holds its lock, that is
-- whether its claims are still good.
CREATE FUNCTION screend.instance_alive(id integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
        WHERE locktype = 'advisory' AND classid = 1935897189 AND objid = id
          AND objsubid = 2 AND granted)
$$;

-- projects are the first-level folders of a watched root.
CREATE TABLE screend.projects (
    project_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    root        text        NOT NULL,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- last_file_at is when a file of the project was last discovered; groups
    -- still open are closed once it is SCREEND_SETTLE in the past.
    last_file_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (root, name)
);

CREATE TABLE screend.images (
    image_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   bigint      NOT NULL REFERENCES screend.projects,
    -- path is where the file is now (absolute, unique); rel_path is where it
    -- was found, relative to the project folder, and never changes.
    path         text        NOT NULL,
    rel_path     text        NOT NULL,
    file_name    text        NOT NULL,
    size         bigint      NOT NULL,
    mtime        timestamptz NOT NULL,
    sha256       bytea,
    stage        real        NOT NULL,
    format       text,
    width        integer,
    height       integer,
    state        text        NOT NULL DEFAULT 'discovered'
        CHECK (state IN ('discovered', 'embedded', 'duplicate', 'quarantined', 'gone')),
    duplicate_of bigint      REFERENCES screend.images,
    reason       text,
    claimed_by   integer     REFERENCES screend.instances ON DELETE SET NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    -- retry_after delays the next claim of a file that was still changing.
    retry_after  timestamptz,
    discovered_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    CHECK ((state = 'duplicate') = (duplicate_of IS NOT NULL)),
    CHECK (state <> 'quarantined' OR reason IS NOT NULL)
);
CREATE UNIQUE INDEX images_path_key ON screend.images (path);
CREATE INDEX images_pending_idx ON screend.images (image_id) WHERE state = 'discovered';
CREATE INDEX images_sha256_idx ON screend.images (project_id, sha256);

-- embedders are the models that made the vectors. Each gets its own HNSW
-- index, created when it is registered, so vectors of different models are
-- never searched or compared together.
CREATE TABLE screend.embedders (
    embedder_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    dim         integer     NOT NULL CHECK (dim BETWEEN 1 AND 16000),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE screend.embeddings (
    image_id    bigint  NOT NULL REFERENCES screend.images,
    embedder_id integer NOT NULL REFERENCES screend.embedders,
    embedding   vector  NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (image_id, embedder_id)
);

-- models are trained bundles (ranker, crop and reject ONNX models with
-- their calibration and thresholds). At most one is active.
CREATE TABLE screend.models (
    model_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    embedder_id  integer     NOT NULL REFERENCES screend.embedders,
    state        text        NOT NULL DEFAULT 'candidate'
        CHECK (state IN ('candidate', 'active', 'retired', 'failed_gate')),
    ranker_onnx  bytea       NOT NULL,
    crop_onnx    bytea       NOT NULL,
    reject_onnx  bytea       NOT NULL,
    params       jsonb       NOT NULL,
    metrics      jsonb       NOT NULL,
    examples     integer     NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    promoted_at  timestamptz
);
CREATE UNIQUE INDEX models_one_active ON screend.models ((true)) WHERE state = 'active';

CREATE TABLE screend.groups (
    group_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   bigint      NOT NULL REFERENCES screend.projects,
    state        text        NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'closed', 'flagged', 'decided', 'applied')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz,
    -- What the model suggested, filled when the group is scored.
    suggested_outcome  text CHECK (suggested_outcome IN ('select', 'crop', 'reject')),
    suggested_image_id bigint REFERENCES screend.images,
    suggested_crop     real[],
    confidence   real,
    model_id     bigint      REFERENCES screend.models,
    reasons      text[]      NOT NULL DEFAULT '{}',
    flagged_at   timestamptz,
    claimed_by   integer     REFERENCES screend.instances ON DELETE SET NULL
);
CREATE INDEX groups_state_idx ON screend.groups (state, group_id) WHERE state <> 'applied';

CREATE TABLE screend.group_images (
    group_id  bigint  NOT NULL REFERENCES screend.groups ON DELETE CASCADE,
    image_id  bigint  NOT NULL REFERENCES screend.images,
    position  integer NOT NULL,
    score     real,
    PRIMARY KEY (group_id, image_id),
    UNIQUE (image_id)
);

-- decisions are final: automatic (decided_by 'screend') or human. Each keeps
-- what the model suggested so agreement can be computed in SQL.
CREATE TABLE screend.decisions (
    decision_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id     bigint      NOT NULL UNIQUE REFERENCES screend.groups,
    outcome      text        NOT NULL CHECK (outcome IN ('select', 'crop', 'reject', 'manual_crop')),
    chosen_image_id bigint   REFERENCES screend.images,
    crop         real[],
    automatic    boolean     NOT NULL,
    decided_by   text        NOT NULL,
    decided_at   timestamptz NOT NULL DEFAULT now(),
    suggested_outcome  text,
    suggested_image_id bigint,
    suggested_crop     real[],
    confidence   real,
    model_id     bigint      REFERENCES screend.models,
    reasons      text[]      NOT NULL DEFAULT '{}',
    dry_run      boolean     NOT NULL DEFAULT false,
    CHECK ((outcome = 'reject') = (chosen_image_id IS NULL)),
    CHECK ((outcome = 'crop') = (crop IS NOT NULL))
);

-- file_moves is the journal of every file operation, written before the
-- operation. On start, rows still 'planned' are finished or found done.
CREATE TABLE screend.file_moves (
    move_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id    bigint      REFERENCES screend.groups,
    image_id    bigint      REFERENCES screend.images,
    -- kind: 'move' renames src to dst; 'crop' writes a cropped copy of src
    -- to dst; 'sidecar' writes content to dst.
    kind        text        NOT NULL CHECK (kind IN ('move', 'crop', 'sidecar')),
    src         text,
    dst         text        NOT NULL,
    content     bytea,
    crop        real[],
    state       text        NOT NULL DEFAULT 'planned' CHECK (state IN ('planned', 'done', 'failed')),
    error       text,
    planned_at  timestamptz NOT NULL DEFAULT now(),
    done_at     timestamptz
);
CREATE INDEX file_moves_planned_idx ON screend.file_moves (move_id) WHERE state = 'planned';

-- imported_decisions are the human decisions of the old workflow's logs,
-- matched to images by file name within a project once they are on disk.
CREATE TABLE screend.imported_decisions (
    imported_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text        NOT NULL,
    line         integer     NOT NULL,
    project      text        NOT NULL,
    set_id       text,
    decided_at   timestamptz,
    chosen_file  text,
    candidate_files text[]   NOT NULL,
    crop         real[],
    imported_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, line)
);
CREATE INDEX imported_decisions_project_idx ON screend.imported_decisions (project);

CREATE TABLE screend.import_rejects (
    source      text    NOT NULL,
    line        integer NOT NULL,
    reason      text    NOT NULL,
    detail      text    NOT NULL,
    raw         text    NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, line, reason)
);
