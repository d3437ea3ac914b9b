package sql

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ImportedDecision is one accepted row of an imported decision log, as
// stored in screend.imported_decisions.
type ImportedDecision struct {
	Line        int
	Format      string
	SessionID   string
	SetID       string
	Project     string
	DecidedAt   *time.Time // nil when the log has no decision time
	TimeRaw     string
	TimeHasZone bool
	ChosenFile  string
	// Candidates, Stages, Widths and Heights describe the group as logged,
	// chosen file included, in the same order; a size is 0 when unknown.
	Candidates []string
	Stages     []float32
	Widths     []int32
	Heights    []int32
	// CropStatus is what the log says about a crop (see 003_learn.sql);
	// Crop is the normalised box when CropStatus is "box".
	CropStatus  string
	Crop        []float32
	DuplicateOf int // line of an earlier row about the same file, or 0
}

// ImportReject is a rejected row, or a dropped part of an accepted row.
type ImportReject struct {
	Line   int
	Part   string
	Reason string
	Detail string
	Raw    string
}

// ImportStats says what storing one log changed.
type ImportStats struct {
	// Inserted rows are new; Updated were stored by an earlier import of the
	// same source and refreshed; Removed were stored before but are not
	// accepted any more.
	Inserted int `json:"inserted"`
	Updated  int `json:"updated"`
	Removed  int `json:"removed"`
	Rejects  int `json:"rejects"`
}

// ReplaceImport stores the accepted rows and rejects of the log named
// source, in one transaction. Importing a source again replaces what it
// stored before: rows are matched by (source, line), so their ids stay, rows
// no longer accepted are removed, and the rejects are written anew.
func (db *DB) ReplaceImport(ctx context.Context, source string, rows []ImportedDecision, rejects []ImportReject) (ImportStats, error) {
	var st ImportStats
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			CREATE TEMP TABLE import_rows (
				line integer, format text, session_id text, set_id text, project text,
				decided_at timestamptz, time_raw text, time_has_zone boolean, chosen_file text,
				candidate_files text[], candidate_stages real[], candidate_widths integer[],
				candidate_heights integer[], crop_status text, crop real[], duplicate_of integer
			) ON COMMIT DROP`)
		if err != nil {
			return err
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"import_rows"}, []string{
			"line", "format", "session_id", "set_id", "project", "decided_at", "time_raw", "time_has_zone",
			"chosen_file", "candidate_files", "candidate_stages", "candidate_widths", "candidate_heights",
			"crop_status", "crop", "duplicate_of",
		}, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			var dup *int32
			if r.DuplicateOf > 0 {
				d := int32(r.DuplicateOf)
				dup = &d
			}
			var crop []float32
			if len(r.Crop) > 0 {
				crop = r.Crop
			}
			return []any{int32(r.Line), r.Format, nullText(r.SessionID), nullText(r.SetID), r.Project, r.DecidedAt,
				nullText(r.TimeRaw), r.TimeHasZone, nullText(r.ChosenFile), r.Candidates, r.Stages, r.Widths,
				r.Heights, r.CropStatus, crop, dup}, nil
		}))
		if err != nil {
			return fmt.Errorf("copy rows: %w", err)
		}
		res, err := tx.Query(ctx, `
			INSERT INTO screend.imported_decisions AS d (source, line, format, session_id, set_id, project,
				decided_at, time_raw, time_has_zone, chosen_file, candidate_files, candidate_stages,
				candidate_widths, candidate_heights, crop_status, crop, duplicate_of)
			SELECT $1, line, format, session_id, set_id, project, decided_at, time_raw, time_has_zone,
				chosen_file, candidate_files, candidate_stages, candidate_widths, candidate_heights,
				crop_status, crop, duplicate_of
			FROM import_rows
			ON CONFLICT (source, line) DO UPDATE SET
				format = excluded.format, session_id = excluded.session_id, set_id = excluded.set_id,
				project = excluded.project, decided_at = excluded.decided_at, time_raw = excluded.time_raw,
				time_has_zone = excluded.time_has_zone, chosen_file = excluded.chosen_file,
				candidate_files = excluded.candidate_files, candidate_stages = excluded.candidate_stages,
				candidate_widths = excluded.candidate_widths, candidate_heights = excluded.candidate_heights,
				crop_status = excluded.crop_status, crop = excluded.crop, duplicate_of = excluded.duplicate_of
			RETURNING (xmax = 0)`, source)
		if err != nil {
			return err
		}
		inserted, err := pgx.CollectRows(res, pgx.RowTo[bool])
		if err != nil {
			return fmt.Errorf("store rows: %w", err)
		}
		for _, ins := range inserted {
			if ins {
				st.Inserted++
			} else {
				st.Updated++
			}
		}
		tag, err := tx.Exec(ctx, `
			DELETE FROM screend.imported_decisions d
			WHERE d.source = $1 AND NOT EXISTS (SELECT 1 FROM import_rows r WHERE r.line = d.line)`, source)
		if err != nil {
			return fmt.Errorf("remove stale rows: %w", err)
		}
		st.Removed = int(tag.RowsAffected())

		if _, err := tx.Exec(ctx, `DELETE FROM screend.import_rejects WHERE source = $1`, source); err != nil {
			return fmt.Errorf("remove old rejects: %w", err)
		}
		seq := map[int]int{}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"screend", "import_rejects"},
			[]string{"source", "line", "seq", "part", "reason", "detail", "raw"},
			pgx.CopyFromSlice(len(rejects), func(i int) ([]any, error) {
				r := rejects[i]
				s := seq[r.Line]
				seq[r.Line]++
				return []any{source, int32(r.Line), int32(s), r.Part, r.Reason, r.Detail, r.Raw}, nil
			}))
		if err != nil {
			return fmt.Errorf("store rejects: %w", err)
		}
		st.Rejects = int(n)
		return nil
	})
	if err != nil {
		return ImportStats{}, fmt.Errorf("import %s: %w", source, err)
	}
	return st, nil
}

// ImportCounts returns the stored rows and rejects of source.
func (db *DB) ImportCounts(ctx context.Context, source string) (rows, rejects int, err error) {
	err = db.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM screend.imported_decisions WHERE source = $1),
		       (SELECT count(*) FROM screend.import_rejects WHERE source = $1)`, source).Scan(&rows, &rejects)
	if err != nil {
		return 0, 0, fmt.Errorf("count import %s: %w", source, err)
	}
	return rows, rejects, nil
}

func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
