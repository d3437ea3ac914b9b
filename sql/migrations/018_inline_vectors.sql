-- 018_inline_vectors: vectors are stored in their row.
--
-- pgvector's type is stored out of line whenever a row passes
-- PostgreSQL's TOAST threshold (about 2 kB): a vector of 498 or 512
-- values does, just, so every one was moved to the TOAST table, and
-- every read of it (training, the familiarity check that reads all
-- training vectors for a group unlike them) fetched it back from there.
-- Rows up to a page now stay whole: vectors of up to about 2,000 values.
-- Rows written before keep their form until they are written again.
ALTER TABLE screend.embeddings SET (toast_tuple_target = 8160);
