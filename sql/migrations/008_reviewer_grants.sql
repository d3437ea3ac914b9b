-- 008_reviewer_grants: what a reviewer may read, beside the queue and the
-- history.
--
-- screend_reviewer gets SELECT on the model_readiness view (how far each
-- outcome kind is from being decided alone, which `screend status` and the
-- review page show) and on history_images (the historical files `screend
-- import images` embedded, and why some could not be), but not on its
-- embedding column: vectors are the daemon's working data, of no use to a
-- person.
--
-- 007 granted SELECT on the whole take_backs table. It is narrowed to the
-- columns a person asks about (what was taken back, by whom, when, how far
-- it got, the files left where they were, the decision taken back), not the
-- journal bookkeeping (last_move_id). Column grants also keep a column a
-- later migration adds to either table private until it is granted.
--
-- As in 007, the grants are made when the role exists; a superuser who
-- creates it later runs this file's DO block again.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'screend_reviewer') THEN
        BEGIN
            CREATE ROLE screend_reviewer NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL; -- created meanwhile by the migration of another database
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'role screend_reviewer not created: no CREATEROLE';
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'screend_reviewer') THEN
        GRANT USAGE ON SCHEMA screend TO screend_reviewer;
        GRANT SELECT ON screend.model_readiness TO screend_reviewer;
        REVOKE SELECT ON screend.history_images FROM screend_reviewer;
        GRANT SELECT (history_id, path, project, file_name, size, mtime, stage, width, height,
                      embedder_id, reason, imported_at)
            ON screend.history_images TO screend_reviewer;
        REVOKE SELECT ON screend.take_backs FROM screend_reviewer;
        GRANT SELECT (take_back_id, group_id, requested_by, requested_at, state, decision, report, done_at)
            ON screend.take_backs TO screend_reviewer;
    END IF;
END
$$;
