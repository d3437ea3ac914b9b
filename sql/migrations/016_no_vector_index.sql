-- 016_no_vector_index: vectors are stored without an approximate index.
--
-- Until now every embedder got an HNSW index over its vectors
-- (embeddings_hnsw_<embedder_id>) when it was registered. No query of
-- screend searches vectors by similarity: the nearest training image of a
-- group is an exact minimum over the training images' vectors, which no
-- such index serves. Yet every stored vector was inserted into the graph:
-- about 1.8 ms of PostgreSQL's CPU per vector (498 dimensions, an index of
-- 2,000 to 4,000), a sixth of what decoding a 2048x2048 PNG costs, on
-- every image of a bulk drop or a history import.
--
-- A user who searches a large collection by similarity in SQL can create
-- one for their embedder (see README, "The review queue in SQL").
DO $$
DECLARE
    ix text;
BEGIN
    FOR ix IN
        SELECT indexname FROM pg_indexes
        WHERE schemaname = 'screend' AND tablename = 'embeddings'
          AND indexname LIKE 'embeddings\_hnsw\_%'
    LOOP
        EXECUTE format('DROP INDEX screend.%I', ix);
    END LOOP;
END
$$;
