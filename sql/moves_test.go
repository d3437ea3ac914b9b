package sql_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"screend"
	"screend/sql"
)

// journal journals a decided group of the named images of project p with
// one move each into __selected, claimed by instance, and returns the
// moves.
func (f *fixture) journal(instance int32, p int64, names ...string) []sql.Move {
	f.t.Helper()
	var ids []int64
	for _, n := range names {
		ids = append(ids, f.image(p, n, screend.ImageEmbedded, ""))
	}
	g := f.group(p, screend.GroupClosed, ids...)
	f.decide(g, ids[0], false)
	var moves []sql.Move
	for i, n := range names {
		moves = append(moves, sql.Move{GroupID: &g, ImageID: &ids[i], Kind: screend.MoveFile,
			Src: "/inbox/p/" + n, Dst: "/inbox/p/__selected/" + n})
	}
	moves, stored, err := f.db.JournalMoves(f.ctx, instance, g, moves, false)
	if err != nil || !stored {
		f.t.Fatalf("journal moves: stored %v err %v", stored, err)
	}
	return moves
}

func moveIDs(ms []sql.Move) []int64 {
	ids := make([]int64, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids
}

// TestClaimDueMoves: a move journaled by a live instance is its own, for a
// minute; a move that failed waits for its retry time and holds back the
// later moves of its group; the moves of an instance that is gone are
// anyone's.
func TestClaimDueMoves(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.instance(), f.instance()
	p := f.project("p")
	moves := f.journal(a.ID, p, "1.png", "2.png")
	claim := func(in *sql.Instance) []int64 {
		t.Helper()
		ms, err := f.db.ClaimDueMoves(f.ctx, in.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		return moveIDs(ms)
	}

	if got := claim(b); len(got) != 0 {
		t.Errorf("another instance claimed %v of a live instance's fresh moves", got)
	}
	if got := claim(a); len(got) != 0 {
		t.Errorf("the journaling instance claimed its own fresh moves %v again", got)
	}
	f.exec(`UPDATE screend.file_moves SET planned_at = now() - interval '2 minutes'`)
	if got := claim(a); !slices.Equal(got, moveIDs(moves)) {
		t.Errorf("own moves over a minute old: claimed %v, want %v", got, moveIDs(moves))
	}

	if err := f.db.RetryMove(f.ctx, moves[0].ID, "permission denied", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := claim(b); len(got) != 0 {
		t.Errorf("claimed %v while the group's first move waits for its retry", got)
	}
	f.exec(`UPDATE screend.file_moves SET retry_after = now() - interval '1 second' WHERE move_id = $1`, moves[0].ID)
	due, err := f.db.ClaimDueMoves(f.ctx, b.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(moveIDs(due), moveIDs(moves)) || due[0].Attempts != 1 || due[1].Attempts != 0 ||
		due[0].Src != "/inbox/p/1.png" || due[0].Dst != "/inbox/p/__selected/1.png" {
		t.Errorf("after the retry time: claimed %+v, want both moves, the first with one attempt", due)
	}

	later := f.journal(b.ID, p, "3.png")
	f.closeInstance(b)
	if got := claim(a); !slices.Equal(got, append(moveIDs(moves), later[0].ID)) {
		t.Errorf("moves of an instance that is gone: claimed %v, want %v and %d", got, moveIDs(moves), later[0].ID)
	}
	if ms, err := f.db.ClaimDueMoves(f.ctx, a.ID, 1); err != nil || len(ms) != 1 {
		t.Errorf("limit 1: claimed %d (%v)", len(ms), err)
	}
}

// TestFinishAndFailMoves: a finished move takes its image's path along
// and the group's last one applies the group; a redirected move goes
// elsewhere; a failed move gives up the rest of its group and fails it.
func TestFinishAndFailMoves(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	in := f.instance()
	p := f.project("p")
	moves := f.journal(in.ID, p, "1.png", "2.png")
	g := *moves[0].GroupID

	if err := f.db.RedirectMove(f.ctx, moves[1].ID, "/inbox/p/__selected/2_1.png"); err != nil {
		t.Fatal(err)
	}
	moves[1].Dst = "/inbox/p/__selected/2_1.png"
	if err := f.db.FinishMove(f.ctx, moves[0]); err != nil {
		t.Fatal(err)
	}
	if state, _ := f.groupState(g); state != "applying" {
		t.Errorf("group with a move left: %s, want applying", state)
	}
	if err := f.db.FinishMove(f.ctx, moves[1]); err != nil {
		t.Fatal(err)
	}
	if state, _ := f.groupState(g); state != "applied" {
		t.Errorf("group with every move done: %s, want applied", state)
	}
	for _, m := range moves {
		var path, state, dst string
		f.scan(`SELECT i.path, m.state, m.dst FROM screend.images i JOIN screend.file_moves m USING (image_id) WHERE m.move_id = $1`,
			[]any{m.ID}, &path, &state, &dst)
		if path != m.Dst || state != "done" || dst != m.Dst {
			t.Errorf("move %d: image at %s, move %s to %s; want the image at %s and the move done", m.ID, path, state, dst, m.Dst)
		}
	}

	failing := f.journal(in.ID, p, "3.png", "4.png")
	if err := f.db.FailMove(f.ctx, failing[0], "source vanished"); err != nil {
		t.Fatal(err)
	}
	state, reason := f.groupState(*failing[0].GroupID)
	if state != "failed" || reason == nil || !strings.Contains(*reason, "source vanished") {
		t.Errorf("group of a failed move: %s %v, want failed with the reason", state, reason)
	}
	var planned, failed int
	f.scan(`SELECT count(*) FILTER (WHERE state = 'planned'), count(*) FILTER (WHERE state = 'failed')
		FROM screend.file_moves WHERE group_id = $1`, []any{*failing[0].GroupID}, &planned, &failed)
	if planned != 0 || failed != 2 {
		t.Errorf("moves of the failed group: %d planned, %d failed; want 0, 2", planned, failed)
	}
}

// TestQuarantineImage journals the move of a claimed image into quarantine
// with its reason, and refuses an image the instance no longer claims.
func TestQuarantineImage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	in := f.instance()
	p := f.project("p")
	img := f.image(p, "bad.png", screend.ImageDiscovered, "")
	f.exec(`UPDATE screend.images SET claimed_by = $2 WHERE image_id = $1`, img, in.ID)

	mv, err := f.db.QuarantineImage(f.ctx, in.ID, img, "truncated: unexpected EOF", "/inbox/p/bad.png", "/inbox/p/__quarantine/bad.png")
	if err != nil {
		t.Fatal(err)
	}
	if mv.ID == 0 || mv.ImageID == nil || *mv.ImageID != img || mv.GroupID != nil || mv.Dst != "/inbox/p/__quarantine/bad.png" {
		t.Errorf("quarantine move %+v", mv)
	}
	var state, reason string
	var claimed *int32
	f.scan(`SELECT state, reason, claimed_by FROM screend.images WHERE image_id = $1`, []any{img}, &state, &reason, &claimed)
	if state != "quarantined" || reason != "truncated: unexpected EOF" || claimed != nil {
		t.Errorf("image %s (%s), claimed by %v; want quarantined with the reason, unclaimed", state, reason, claimed)
	}
	if _, err := f.db.QuarantineImage(f.ctx, in.ID, img, "again", "/inbox/p/bad.png", "/inbox/p/__quarantine/bad_1.png"); err == nil {
		t.Error("quarantined an image no longer claimed")
	}
}
