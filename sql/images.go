package sql

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgvector/pgvector-go"
)

// FileStat is what a scan knows of a file: enough to tell whether it changed.
type FileStat struct {
	Path  string
	Size  int64
	MTime time.Time
}

// NewFile is a complete file found in a project, to be recorded.
type NewFile struct {
	ProjectID int64
	Path      string
	RelPath   string
	FileName  string
	Size      int64
	MTime     time.Time
	Stage     float64
}

// KnownFiles returns the size and mtime of every image recorded under
// root that is not gone, keyed by path, so a rescan reads only new or
// changed files (and a gone file that is back is recorded again).
func (db *DB) KnownFiles(ctx context.Context, root string) (map[string]FileStat, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT screend.fs_path(i.path, i.path_raw), i.size, i.mtime
		FROM screend.images i JOIN screend.projects p USING (project_id)
		WHERE p.root = $1 AND i.state <> 'gone'`, root)
	if err != nil {
		return nil, fmt.Errorf("read known files: %w", err)
	}
	known := map[string]FileStat{}
	var f FileStat
	var path []byte
	_, err = pgx.ForEachRow(rows, []any{&path, &f.Size, &f.MTime}, func() error {
		f.Path = string(path)
		known[f.Path] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read known files: %w", err)
	}
	return known, nil
}

// GoneSince returns the paths under root of images marked gone at or
// after since, so a watcher forgets them and takes them again if they
// come back.
func (db *DB) GoneSince(ctx context.Context, root string, since time.Time) ([]string, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT screend.fs_path(i.path, i.path_raw)
		FROM screend.images i JOIN screend.projects p USING (project_id)
		WHERE p.root = $1 AND i.state = 'gone' AND i.processed_at >= $2`, root, since)
	if err != nil {
		return nil, fmt.Errorf("read gone files: %w", err)
	}
	paths, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var b []byte
		err := r.Scan(&b)
		return string(b), err
	})
	if err != nil {
		return nil, fmt.Errorf("read gone files: %w", err)
	}
	return paths, nil
}

// RecordFiles records complete files in one transaction. A file already
// recorded at the same path keeps its row; if its size or mtime changed
// (it was rewritten, even after it was processed) or it had gone and is
// back, the row is processed again from the start: state discovered, the
// old content's hash, size and vectors forgotten. It returns the ids of
// the files it recorded anew or again and marks their projects active.
//
// A file seen at a place where an image was recorded before, and moved away
// since (quarantined, or its group applied), is either a file put back
// there (recorded anew) or the same file seen just before an instance moved
// it: the move renames the file before it changes the image's path, so a
// row inserted after that change is for a file that is no longer there.
// present, when not nil, is asked inside the transaction, after the insert,
// whether such a file is still where it was seen; a file that is not is
// not recorded (its image has its row already).
func (db *DB) RecordFiles(ctx context.Context, files []NewFile, present func(NewFile) bool) ([]int64, error) {
	var ids []int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// Projects first, in id order, as StoreEmbeddings locks them, so the
		// two never wait for each other in a cycle.
		projects := map[int64]bool{}
		for _, f := range files {
			projects[f.ProjectID] = true
		}
		batch := &pgx.Batch{}
		for _, id := range slices.Sorted(maps.Keys(projects)) {
			batch.Queue(`UPDATE screend.projects SET last_file_at = now() WHERE project_id = $1`, id)
		}
		for _, f := range files {
			batch.Queue(`
				INSERT INTO screend.images (project_id, path, path_raw, rel_path, file_name, size, mtime, stage)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (path, (coalesce(path_raw, '\x'::bytea))) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
					path_raw = excluded.path_raw, state = 'discovered', reason = NULL, sha256 = NULL,
					duplicate_of = NULL, format = NULL, width = NULL, height = NULL, decodes = 0,
					retry_after = NULL, processed_at = NULL, discovered_at = now()
					WHERE images.state = 'gone' OR images.size <> excluded.size OR images.mtime <> excluded.mtime
				RETURNING image_id, (xmax = 0) AS inserted, EXISTS (
					SELECT 1 FROM screend.images o
					WHERE o.project_id = $1 AND o.file_name = $5 AND o.rel_path = $4 AND o.image_id <> images.image_id)`,
				f.ProjectID, ReadablePath(f.Path), rawPath(f.Path), ReadablePath(f.RelPath), ReadablePath(f.FileName),
				f.Size, f.MTime, f.Stage)
		}
		res := tx.SendBatch(ctx, batch)
		defer res.Close()
		for range projects {
			if _, err := res.Exec(); err != nil {
				return err
			}
		}
		var again, recheck []int64
		var recheckFiles []NewFile
		for _, f := range files {
			var id int64
			var inserted, seenBefore bool
			err := res.QueryRow().Scan(&id, &inserted, &seenBefore)
			if err == pgx.ErrNoRows {
				continue
			}
			if err != nil {
				return err
			}
			switch {
			case !inserted:
				again = append(again, id)
			case seenBefore && present != nil:
				recheck, recheckFiles = append(recheck, id), append(recheckFiles, f)
				continue
			}
			ids = append(ids, id)
		}
		if err := res.Close(); err != nil {
			return err
		}
		for i, f := range recheckFiles {
			if present(f) {
				ids = append(ids, recheck[i])
				continue
			}
			if _, err := tx.Exec(ctx, `DELETE FROM screend.images WHERE image_id = $1`, recheck[i]); err != nil {
				return err
			}
		}
		if len(again) == 0 {
			return nil
		}
		// The vectors of the old content would be kept by StoreEmbeddings.
		_, err := tx.Exec(ctx, `DELETE FROM screend.embeddings WHERE image_id = ANY($1)`, again)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record files: %w", err)
	}
	return ids, nil
}

// ClaimedImage is an image an instance claimed for processing.
type ClaimedImage struct {
	ID        int64
	ProjectID int64
	Path      string
	Size      int64
	MTime     time.Time
	// Decodes counts the decodes of the file begun before this claim that
	// never finished (see BeginDecode).
	Decodes int
}

// ClaimImages claims up to limit images waiting to be processed, skipping
// rows other transactions hold and images claimed by live instances. Its
// commit does not wait for the disk (see recomputable): a claim lost in a
// crash of PostgreSQL is made again.
func (db *DB) ClaimImages(ctx context.Context, instance int32, limit int) ([]ClaimedImage, error) {
	rows, err := db.pool.Query(ctx, `
		UPDATE screend.images i SET claimed_by = $1, attempts = attempts + 1
		FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
		WHERE image_id IN (
			SELECT image_id FROM screend.images
			WHERE state = 'discovered' AND (retry_after IS NULL OR retry_after <= now())
			  AND (claimed_by IS NULL OR (claimed_by <> $1 AND NOT screend.instance_alive(claimed_by)))
			ORDER BY image_id
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		RETURNING image_id, project_id, screend.fs_path(path, path_raw), size, mtime, decodes`, instance, limit)
	if err != nil {
		return nil, fmt.Errorf("claim images: %w", err)
	}
	claimed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClaimedImage, error) {
		var c ClaimedImage
		var path []byte
		err := r.Scan(&c.ID, &c.ProjectID, &path, &c.Size, &c.MTime, &c.Decodes)
		c.Path = string(path)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim images: %w", err)
	}
	return claimed, nil
}

// BeginDecode is called before image id, of project projectID, is
// decoded; sha is the sha256 of its content. If another image of the
// project already holds that content (embedded, or claimed for
// embedding) it returns that image: the file needs no decode. Otherwise
// it counts a decode of the image as begun (one round trip for both) and
// returns 0 and how many decodes were begun without finishing (EndDecode)
// or an outcome being stored: more than one means the instance died while
// decoding it before.
//
// The count is committed without waiting for the write-ahead log to reach
// the disk (synchronous_commit off, for this transaction only), as is
// EndDecode's: a waiting commit costs a disk flush per image, on the
// decode workers' path. The count guards against a decoder that kills the
// daemon; if PostgreSQL itself crashes, the last fraction of a second of
// counts may be lost, which only delays that guard by one more crash.
func (db *DB) BeginDecode(ctx context.Context, id, projectID int64, sha []byte) (duplicateOf int64, begun int, err error) {
	var dup, n *int64
	err = db.pool.QueryRow(ctx, `
		WITH dup AS (
			SELECT image_id FROM screend.images
			WHERE project_id = $2 AND sha256 = $3 AND image_id <> $1 AND state IN ('embedded', 'discovered')
			ORDER BY (state = 'embedded') DESC, image_id
			LIMIT 1),
		begun AS (
			UPDATE screend.images SET decodes = decodes + 1
			FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
			WHERE image_id = $1 AND NOT EXISTS (SELECT FROM dup)
			RETURNING decodes)
		SELECT (SELECT image_id FROM dup), (SELECT decodes FROM begun)`, id, projectID, sha).Scan(&dup, &n)
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("begin decode of image %d: %w", id, err)
	case dup != nil:
		return *dup, 0, nil
	case n == nil:
		return 0, 0, fmt.Errorf("begin decode of image %d: %w", id, pgx.ErrNoRows)
	}
	return 0, int(*n), nil
}

// EndDecode counts the decodes of images as finished (see BeginDecode):
// whatever happens to them next, their decoder did not crash. Storing an
// image's outcome (StoreEmbeddings, MarkDuplicate, MarkGone, a quarantine)
// counts it as finished too, and then EndDecode leaves the row alone. Like
// BeginDecode's, its commit does not wait for the disk.
func (db *DB) EndDecode(ctx context.Context, ids []int64) error {
	_, err := db.pool.Exec(ctx, `
		UPDATE screend.images SET decodes = 0
		FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
		WHERE image_id = ANY($1) AND decodes > 0`, ids)
	if err != nil {
		return fmt.Errorf("end decode of %d images: %w", len(ids), err)
	}
	return nil
}

// ReleaseImages gives back the claims on files that were still changing
// (or could not be stored), to be claimed again after the delay. Their
// decodes ended normally.
func (db *DB) ReleaseImages(ctx context.Context, instance int32, ids []int64, delay time.Duration) error {
	_, err := db.pool.Exec(ctx, `
		UPDATE screend.images SET claimed_by = NULL, retry_after = now() + $3::interval, decodes = 0
		WHERE image_id = ANY($1) AND claimed_by = $2 AND state = 'discovered'`, ids, instance, delay)
	if err != nil {
		return fmt.Errorf("release images: %w", err)
	}
	return nil
}

// DeferImage gives back the claim on an image whose file cannot be seen
// now (its project folder is missing, or it cannot be read), recording why;
// it is tried again after the delay.
func (db *DB) DeferImage(ctx context.Context, instance int32, id int64, reason string, delay time.Duration) error {
	_, err := db.pool.Exec(ctx, `
		UPDATE screend.images SET claimed_by = NULL, retry_after = now() + $4::interval, decodes = 0, reason = $3
		WHERE image_id = $1 AND claimed_by = $2 AND state = 'discovered'`, id, instance, ReadablePath(reason), delay)
	if err != nil {
		return fmt.Errorf("defer image %d: %w", id, err)
	}
	return nil
}

// Embedded is the result of processing one image successfully.
type Embedded struct {
	ID        int64
	ProjectID int64
	SHA256    []byte
	Format    string
	Width     int
	Height    int
	Vector    []float32
}

// StoreEmbeddings marks the images embedded and writes their vectors with
// binary COPY, in one transaction. An image whose content another image of
// its project already holds is recorded as its duplicate instead: the
// projects are locked for the transaction, so instances embedding the same
// content at once still store it once. Images no longer claimed by
// instance (the claim was lost and taken over) are skipped. It returns how
// many vectors and how many duplicates were stored. The commit does not
// wait for the disk (recomputable): the files are still in the inbox.
func (db *DB) StoreEmbeddings(ctx context.Context, instance int32, embedderID int32, items []Embedded) (stored, duplicates int, err error) {
	err = pgx.BeginTxFunc(ctx, db.pool, recomputable, func(tx pgx.Tx) error {
		projects := map[int64]bool{}
		for _, it := range items {
			projects[it.ProjectID] = true
		}
		for _, id := range slices.Sorted(maps.Keys(projects)) {
			_, err := tx.Exec(ctx, `SELECT 1 FROM screend.projects WHERE project_id = $1 FOR NO KEY UPDATE`, id)
			if err != nil {
				return err
			}
		}
		// The embedded holders of the batch's contents, all in one query.
		projectIDs := make([]int64, len(items))
		contents := make([][]byte, len(items))
		for i, it := range items {
			projectIDs[i], contents[i] = it.ProjectID, it.SHA256
		}
		rows, err := tx.Query(ctx, `
			SELECT DISTINCT ON (i.project_id, i.sha256) i.project_id, i.sha256, i.image_id
			FROM screend.images i
			JOIN unnest($1::bigint[], $2::bytea[]) AS u(project_id, sha256)
			  ON i.project_id = u.project_id AND i.sha256 = u.sha256
			WHERE i.state = 'embedded'
			ORDER BY i.project_id, i.sha256, i.image_id`, projectIDs, contents)
		if err != nil {
			return err
		}
		originals := map[string]int64{}
		var projectID, orig int64
		var content []byte
		_, err = pgx.ForEachRow(rows, []any{&projectID, &content, &orig}, func() error {
			originals[fmt.Sprint(projectID, string(content))] = orig
			return nil
		})
		if err != nil {
			return err
		}
		var fresh []Embedded
		for _, it := range items {
			key := fmt.Sprint(it.ProjectID, string(it.SHA256))
			orig, dup := originals[key]
			if !dup {
				originals[key] = it.ID
				fresh = append(fresh, it)
				continue
			}
			n, err := markDuplicate(ctx, tx, instance, it.ID, orig, it.SHA256)
			if err != nil {
				return err
			}
			duplicates += int(n)
		}

		ids := make([]int64, len(fresh))
		shas := make([][]byte, len(fresh))
		formats := make([]string, len(fresh))
		widths := make([]int32, len(fresh))
		heights := make([]int32, len(fresh))
		for i, it := range fresh {
			ids[i], shas[i], formats[i] = it.ID, it.SHA256, it.Format
			widths[i], heights[i] = int32(it.Width), int32(it.Height)
		}
		rows, err = tx.Query(ctx, `
			UPDATE screend.images i SET state = 'embedded', reason = NULL, sha256 = u.sha256, format = u.format,
				width = u.width, height = u.height, processed_at = now(), claimed_by = NULL, decodes = 0
			FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::int[], $5::int[])
				AS u(image_id, sha256, format, width, height)
			WHERE i.image_id = u.image_id AND i.claimed_by = $6 AND i.state = 'discovered'
			RETURNING i.image_id`, ids, shas, formats, widths, heights, instance)
		if err != nil {
			return err
		}
		mine, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		ok := make(map[int64]bool, len(mine))
		for _, id := range mine {
			ok[id] = true
		}
		// An image queued again after an embedder switch may already hold a
		// vector of this embedder (another instance runs it): kept as it is.
		rows, err = tx.Query(ctx, `SELECT image_id FROM screend.embeddings WHERE image_id = ANY($1) AND embedder_id = $2`, mine, embedderID)
		if err != nil {
			return err
		}
		have, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, id := range have {
			delete(ok, id)
		}
		var copyRows [][]any
		for _, it := range fresh {
			if ok[it.ID] {
				copyRows = append(copyRows, []any{it.ID, embedderID, pgvector.NewVector(it.Vector)})
			}
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"screend", "embeddings"},
			[]string{"image_id", "embedder_id", "embedding"}, pgx.CopyFromRows(copyRows))
		stored = int(n)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("store embeddings: %w", err)
	}
	return stored, duplicates, nil
}

// MarkDuplicate records that the image holds the same content as original.
func (db *DB) MarkDuplicate(ctx context.Context, instance int32, id, original int64, sha []byte) error {
	if _, err := markDuplicate(ctx, db.pool, instance, id, original, sha); err != nil {
		return fmt.Errorf("mark duplicate: %w", err)
	}
	return nil
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// markDuplicate marks a claimed image a duplicate of original and returns
// how many rows it changed (0 when the claim was lost).
func markDuplicate(ctx context.Context, q execer, instance int32, id, original int64, sha []byte) (int64, error) {
	tag, err := q.Exec(ctx, `
		UPDATE screend.images SET state = 'duplicate', reason = NULL, duplicate_of = $2, sha256 = $3,
			processed_at = now(), claimed_by = NULL, decodes = 0
		WHERE image_id = $1 AND claimed_by = $4 AND state = 'discovered'`, id, original, sha, instance)
	return tag.RowsAffected(), err
}

// MarkGone records that an image's file is no longer there to be
// processed (it vanished, or a symlink, FIFO or folder took its place), and
// why. A file that comes back at the path is recorded again.
func (db *DB) MarkGone(ctx context.Context, instance int32, id int64, reason string) error {
	_, err := db.pool.Exec(ctx, `
		UPDATE screend.images SET state = 'gone', reason = $3,
			processed_at = now(), claimed_by = NULL, decodes = 0
		WHERE image_id = $1 AND claimed_by = $2 AND state = 'discovered'`, id, instance, ReadablePath(reason))
	if err != nil {
		return fmt.Errorf("mark gone: %w", err)
	}
	return nil
}
