package sql_test

import (
	"context"
	"errors"
	"testing"

	"screend"
	"screend/sql"
	"screend/sql/sqltest"
)

// TestTakeBackBeforeApplying takes back a human decision whose files were
// not moved yet: the group waits for review again at once, the decision is
// kept in the take-back, and the next decision is recorded as a correction
// and counted in model_agreement. Groups that are not decided, and a second
// take-back under way, are refused with a clear error.
func TestTakeBackBeforeApplying(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqltest.New(t)
	project, err := db.EnsureProject(ctx, "/inbox", "p")
	if err != nil {
		t.Fatal(err)
	}
	embedder, err := db.EnsureEmbedder(ctx, "test", 2)
	if err != nil {
		t.Fatal(err)
	}
	model, err := db.InsertModel(ctx, sql.Model{EmbedderID: embedder, Ranker: []byte{1}, Crop: []byte{1}, Reject: []byte{1},
		Params: []byte(`{}`), Metrics: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, n := range []string{"a1.png", "a2.png"} {
		var id int64
		if err := sqltest.Pool(db).QueryRow(ctx, `
			INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state)
			VALUES ($1, '/inbox/p/' || $2, $2, $2, 1, now(), 1, 'embedded') RETURNING image_id`, project, n).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var group int64
	if err := sqltest.Pool(db).QueryRow(ctx, `
		WITH g AS (INSERT INTO screend.groups (project_id, state, suggested_outcome, suggested_image_id, confidence, model_id, reasons, flagged_at)
			VALUES ($1, 'flagged', 'select', $2, 0.7, $3, '{low_margin}', now()) RETURNING group_id)
		INSERT INTO screend.group_images (group_id, image_id, position)
		SELECT g.group_id, u.id, u.n - 1 FROM g, unnest($4::bigint[]) WITH ORDINALITY AS u(id, n)
		RETURNING group_id`, project, ids[1], model, ids).Scan(&group); err != nil {
		t.Fatal(err)
	}

	if _, err := db.TakeBack(ctx, group, "ann"); !errors.Is(err, sql.ErrBadTakeBack) {
		t.Errorf("taking back a flagged group: %v, want ErrBadTakeBack", err)
	}
	first, err := db.Resolve(ctx, sql.Resolution{GroupID: group, ChosenImageID: ids[1], Reviewer: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.TakeBack(ctx, group, "bob")
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.ReadTakeBack(ctx, id)
	if err != nil || st.State != sql.TakeBackDone {
		t.Fatalf("take-back %+v (%v), want done at once", st, err)
	}
	var state, by string
	var reasons []string
	var kept int64
	if err := sqltest.Pool(db).QueryRow(ctx, `
		SELECT g.state, g.reasons, t.requested_by, (t.decision ->> 'decision_id')::bigint
		FROM screend.groups g JOIN screend.take_backs t USING (group_id) WHERE g.group_id = $1`, group).
		Scan(&state, &reasons, &by, &kept); err != nil {
		t.Fatal(err)
	}
	if state != "flagged" || reasons[len(reasons)-1] != "taken_back" || by != "bob" || kept != first {
		t.Errorf("after take-back: state %s, reasons %v, by %s, decision kept %d (want %d)", state, reasons, by, kept, first)
	}
	queue, err := db.ReviewQueue(ctx, 10)
	if err != nil || len(queue) != 1 || queue[0].GroupID != group {
		t.Errorf("review queue %+v (%v), want the group back", queue, err)
	}

	// The new decision disagrees with the model: a correction.
	if _, err := db.Resolve(ctx, sql.Resolution{GroupID: group, ChosenImageID: ids[0], Reviewer: "bob"}); err != nil {
		t.Fatal(err)
	}
	var correctionOf *int64
	if err := sqltest.Pool(db).QueryRow(ctx, `SELECT correction_of FROM screend.decisions WHERE group_id = $1`, group).Scan(&correctionOf); err != nil {
		t.Fatal(err)
	}
	if correctionOf == nil || *correctionOf != id {
		t.Errorf("correction_of %v, want take-back %d", correctionOf, id)
	}
	var decisions, agreed, corrections int
	if err := sqltest.Pool(db).QueryRow(ctx, `SELECT decisions, agreed, corrections FROM screend.model_agreement WHERE model_id = $1`, model).
		Scan(&decisions, &agreed, &corrections); err != nil {
		t.Fatal(err)
	}
	if decisions != 1 || agreed != 0 || corrections != 1 {
		t.Errorf("agreement: %d decisions, %d agreed, %d corrections; want 1, 0, 1", decisions, agreed, corrections)
	}
	var history int
	if err := sqltest.Pool(db).QueryRow(ctx, `SELECT count(*) FROM screend.decision_history WHERE group_id = $1 AND correction_of = $2`, group, id).Scan(&history); err != nil || history != 1 {
		t.Errorf("decision_history rows %d (%v), want 1", history, err)
	}

	// A take-back under way is not asked for twice.
	if _, err := sqltest.Pool(db).Exec(ctx, `UPDATE screend.groups SET state = 'applied' WHERE group_id = $1`, group); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TakeBack(ctx, group, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TakeBack(ctx, group, "bob"); !errors.Is(err, sql.ErrBadTakeBack) {
		t.Errorf("second take-back under way: %v, want ErrBadTakeBack", err)
	}
}

// TestPlanTakeBack reads a requested take-back with the journal it
// reverses, skips it while a move of its group is under way, and journals
// its reverse moves once: the images point at their destination and the
// take-back is moving with its report.
func TestPlanTakeBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	in := f.instance()
	p := f.project("p")
	img := f.image(p, "1.png", screend.ImageEmbedded, "s1")
	group := f.group(p, screend.GroupClosed, img)
	f.decide(group, img, false)
	f.exec(`UPDATE screend.groups SET state = 'applied' WHERE group_id = $1`, group)
	f.exec(`UPDATE screend.images SET path = '/inbox/p/selected/1.png' WHERE image_id = $1`, img)
	var moved int64
	f.scan(`
		INSERT INTO screend.file_moves (group_id, image_id, kind, src, dst, state, done_at)
		VALUES ($1, $2, 'move', '/inbox/p/1.png', '/inbox/p/selected/1.png', 'done', now())
		RETURNING move_id`, []any{group, img}, &moved)
	var takeBack int64
	f.scan(`INSERT INTO screend.take_backs (group_id, requested_by) VALUES ($1, 'ann') RETURNING take_back_id`,
		[]any{group}, &takeBack)

	var busy int64
	f.scan(`INSERT INTO screend.file_moves (group_id, kind, dst, content) VALUES ($1, 'sidecar', '/inbox/p/x.txt', '') RETURNING move_id`,
		[]any{group}, &busy)
	if _, found, err := f.db.NextTakeBack(f.ctx); err != nil || found {
		t.Errorf("next take-back while a move is planned: found %v err %v, want none", found, err)
	}
	f.exec(`DELETE FROM screend.file_moves WHERE move_id = $1`, busy)

	tb, found, err := f.db.NextTakeBack(f.ctx)
	if err != nil || !found {
		t.Fatalf("next take-back: found %v err %v", found, err)
	}
	if tb.ID != takeBack || tb.GroupID != group || tb.ProjectDir != "/inbox/p" || len(tb.Journal) != 1 {
		t.Fatalf("take-back %+v, want %d of group %d in /inbox/p with one journal entry", tb, takeBack, group)
	}
	if e := tb.Journal[0]; e.ID != moved || e.Src != "/inbox/p/1.png" || e.Dst != "/inbox/p/selected/1.png" || string(e.ImageSHA256) != "s1" || e.DoneAt.IsZero() {
		t.Errorf("journal entry %+v, want move %d of 1.png into selected/ with its content", e, moved)
	}

	for path, want := range map[string]bool{"/inbox/p/selected/1.png": true, "/inbox/p/1.png": false} {
		if got, err := f.db.PathRecorded(f.ctx, path); err != nil || got != want {
			t.Errorf("path recorded %s: %v %v, want %v", path, got, err, want)
		}
	}

	back := []sql.Move{{GroupID: &group, ImageID: &img, Kind: screend.MoveFile, Src: "/inbox/p/selected/1.png", Dst: "/inbox/p/1.png"}}
	notes := []sql.TakeBackNote{{Path: "/inbox/p/selected/1.xmp", Reason: "changed"}}
	journaled, stored, err := f.db.JournalTakeBack(f.ctx, in.ID, tb, back, notes)
	if err != nil || !stored || len(journaled) != 1 || journaled[0].ID <= moved {
		t.Fatalf("journal take-back: %+v stored %v err %v", journaled, stored, err)
	}
	if _, stored, err := f.db.JournalTakeBack(f.ctx, in.ID, tb, back, notes); err != nil || stored {
		t.Errorf("journal the same take-back again: stored %v err %v, want false nil", stored, err)
	}
	st, err := f.db.ReadTakeBack(f.ctx, takeBack)
	if err != nil || st.State != sql.TakeBackMoving || len(st.Report) != 1 || st.Report[0] != notes[0] {
		t.Errorf("take-back %+v (%v), want moving with the note", st, err)
	}
	var path string
	var lastMove, claimed int64
	f.scan(`
		SELECT i.path, t.last_move_id, m.claimed_by FROM screend.images i, screend.take_backs t, screend.file_moves m
		WHERE i.image_id = $1 AND t.take_back_id = $2 AND m.move_id = $3`,
		[]any{img, takeBack, journaled[0].ID}, &path, &lastMove, &claimed)
	if path != "/inbox/p/1.png" || lastMove != journaled[0].ID || claimed != int64(in.ID) {
		t.Errorf("image at %s, last move %d, claimed by %d; want /inbox/p/1.png, %d, %d", path, lastMove, claimed, journaled[0].ID, in.ID)
	}
	if _, found, err := f.db.NextTakeBack(f.ctx); err != nil || found {
		t.Errorf("next take-back after journaling: found %v err %v, want none", found, err)
	}
}
