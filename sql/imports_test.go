package sql_test

import (
	"testing"
	"time"

	"screend/sql"
)

// TestReplaceImport stores a log's rows and rejects, and importing the same
// source again keeps the ids of the rows still accepted, refreshes them,
// removes those no longer accepted and writes the rejects anew.
func TestReplaceImport(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	row := func(line int, chosen string) sql.ImportedDecision {
		return sql.ImportedDecision{Line: line, Format: "select", Project: "p", TimeRaw: "2025-01-01 10:00", ChosenFile: chosen,
			Candidates: []string{chosen, "other.png"}, Stages: []float32{2, 1}, Widths: []int32{64, 0}, Heights: []int32{48, 0},
			CropStatus: "none"}
	}
	reject := sql.ImportReject{Line: 9, Part: "row", Reason: "bad_time", Detail: "no date", Raw: "x,y"}
	st, err := f.db.ReplaceImport(f.ctx, "log.csv", []sql.ImportedDecision{row(1, "a.png"), row(2, "b.png")}, []sql.ImportReject{reject})
	if err != nil {
		t.Fatal(err)
	}
	if st != (sql.ImportStats{Inserted: 2, Rejects: 1}) {
		t.Errorf("first import: %+v", st)
	}
	var kept int64
	f.scan(`SELECT imported_id FROM screend.imported_decisions WHERE source = 'log.csv' AND line = 1`, nil, &kept)

	changed := row(1, "c.png")
	st, err = f.db.ReplaceImport(f.ctx, "log.csv", []sql.ImportedDecision{changed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st != (sql.ImportStats{Updated: 1, Removed: 1}) {
		t.Errorf("second import: %+v, want 1 updated, 1 removed, no rejects", st)
	}
	var id int64
	var chosen string
	f.scan(`SELECT imported_id, chosen_file FROM screend.imported_decisions WHERE source = 'log.csv' AND line = 1`, nil, &id, &chosen)
	if id != kept || chosen != "c.png" {
		t.Errorf("line 1 after the second import: id %d chosen %s, want id %d kept and c.png", id, chosen, kept)
	}
	rows, rejects, err := f.db.ImportCounts(f.ctx, "log.csv")
	if err != nil || rows != 1 || rejects != 0 {
		t.Errorf("import counts: %d rows, %d rejects (%v); want 1, 0", rows, rejects, err)
	}
}

// TestHistoryImages stores history images per embedder, replaces one
// stored again, and keeps a file that could not be embedded with its
// reason.
func TestHistoryImages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e, other := f.embedder("e"), f.embedder("other")
	at := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	good := sql.HistoryImage{Path: "/old/p/a.png", Project: "p", FileName: "a.png", Size: 10, ModTime: at, Stage: 2,
		Width: 64, Height: 48, Embedding: []float32{1, 0}}
	bad := sql.HistoryImage{Path: "/old/p/b.png", Project: "p", FileName: "b.png", Size: 3, ModTime: at, Reason: "truncated"}
	for _, h := range []sql.HistoryImage{good, bad} {
		if err := f.db.PutHistoryImage(f.ctx, e, h); err != nil {
			t.Fatal(err)
		}
	}
	good.Size = 11
	if err := f.db.PutHistoryImage(f.ctx, e, good); err != nil {
		t.Fatal(err)
	}
	known, err := f.db.HistoryKnown(f.ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if len(known) != 2 || known[good.Path].Size != 11 || !known[good.Path].ModTime.Equal(at) || known[bad.Path].Reason != "truncated" {
		t.Errorf("known history images %+v", known)
	}
	if known, err := f.db.HistoryKnown(f.ctx, other); err != nil || len(known) != 0 {
		t.Errorf("history images of another embedder: %+v (%v), want none", known, err)
	}
}
