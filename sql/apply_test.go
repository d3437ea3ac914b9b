package sql_test

import (
	"slices"
	"testing"
	"time"

	"screend"
	"screend/sql"
)

// groupState reads a group's state and error.
func (f *fixture) groupState(group int64) (string, *string) {
	f.t.Helper()
	var state string
	var reason *string
	f.scan(`SELECT state, error FROM screend.groups WHERE group_id = $1`, []any{group}, &state, &reason)
	return state, reason
}

// TestNextDecidedGroupAndJournalMoves reads the oldest decided group with
// its decision and images, skips it while it waits for a retry, and
// journals its moves once: the group is applying, or applied at once with
// nothing to move (a dry run, marked on the decision).
func TestNextDecidedGroupAndJournalMoves(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	in := f.instance()
	p := f.project("p")
	i1, i2 := f.image(p, "1.png", screend.ImageEmbedded, ""), f.image(p, "2.png", screend.ImageEmbedded, "")
	g := f.group(p, screend.GroupClosed, i1, i2)
	f.decide(g, i2, false)
	i3 := f.image(p, "3.png", screend.ImageEmbedded, "")
	dry := f.group(p, screend.GroupClosed, i3)
	f.decide(dry, i3, true)

	next, found, err := f.db.NextDecidedGroup(f.ctx)
	if err != nil || !found {
		t.Fatalf("next decided group: found %v err %v", found, err)
	}
	d := next.Decision
	if next.ID != g || next.ProjectName != "p" || next.ProjectRoot != "/inbox" || d.Outcome != screend.OutcomeSelect ||
		d.ChosenImageID != i2 || d.Automatic || d.DecidedBy != "ann" {
		t.Errorf("next decided group %+v, want %d of p in /inbox, selecting %d by ann", next, g, i2)
	}
	if want := []sql.ApplyImage{{ID: i1, Path: "/inbox/p/1.png"}, {ID: i2, Path: "/inbox/p/2.png"}}; !slices.Equal(next.Images, want) {
		t.Errorf("images %+v, want %+v", next.Images, want)
	}

	if err := f.db.FailGroup(f.ctx, g, "cannot list /inbox/p", time.Hour); err != nil {
		t.Fatal(err)
	}
	if state, reason := f.groupState(g); state != "decided" || reason == nil || *reason != "cannot list /inbox/p" {
		t.Errorf("group after a failed attempt: %s %v, want decided with the reason", state, reason)
	}
	if next, _, err := f.db.NextDecidedGroup(f.ctx); err != nil || next.ID != dry {
		t.Errorf("next decided group while %d waits for a retry: %d (%v), want %d", g, next.ID, err, dry)
	}
	f.exec(`UPDATE screend.groups SET retry_after = now() - interval '1 second' WHERE group_id = $1`, g)

	moves := []sql.Move{
		{GroupID: &g, ImageID: &i1, Kind: screend.MoveFile, Src: "/inbox/p/1.png", Dst: "/inbox/p/__delete_staging/1.png"},
		{GroupID: &g, ImageID: &i2, Kind: screend.MoveFile, Src: "/inbox/p/2.png", Dst: "/inbox/p/__selected/2.png"},
	}
	journaled, stored, err := f.db.JournalMoves(f.ctx, in.ID, g, moves, false)
	if err != nil || !stored || len(journaled) != 2 || journaled[0].ID == 0 || journaled[1].ID <= journaled[0].ID {
		t.Fatalf("journal moves: %+v stored %v err %v", journaled, stored, err)
	}
	if state, reason := f.groupState(g); state != "applying" || reason != nil {
		t.Errorf("group after journaling: %s %v, want applying without an error", state, reason)
	}
	var claimed int
	f.scan(`SELECT count(*) FROM screend.file_moves WHERE group_id = $1 AND state = 'planned' AND claimed_by = $2`,
		[]any{g, in.ID}, &claimed)
	if claimed != 2 {
		t.Errorf("%d planned moves claimed by the instance, want 2", claimed)
	}
	if _, stored, err := f.db.JournalMoves(f.ctx, in.ID, g, moves, false); err != nil || stored {
		t.Errorf("journal the same group again: stored %v err %v, want false nil", stored, err)
	}

	if _, stored, err := f.db.JournalMoves(f.ctx, in.ID, dry, nil, true); err != nil || !stored {
		t.Fatalf("journal a dry run: stored %v err %v", stored, err)
	}
	var dryRun bool
	f.scan(`SELECT dry_run FROM screend.decisions WHERE group_id = $1`, []any{dry}, &dryRun)
	if state, _ := f.groupState(dry); state != "applied" || !dryRun {
		t.Errorf("dry run: group %s, decision dry_run %v; want applied, true", state, dryRun)
	}
	if _, found, err := f.db.NextDecidedGroup(f.ctx); err != nil || found {
		t.Errorf("next decided group when none is left: found %v err %v", found, err)
	}
}

// TestFailGroups: a decided group whose decision can never be carried out
// fails for good; the groups waiting in a project whose folder is gone
// fail with that reason and the project no longer waits.
func TestFailGroups(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, q := f.project("p"), f.project("q")
	i1 := f.image(p, "1.png", screend.ImageEmbedded, "")
	decided := f.group(p, screend.GroupClosed, i1)
	f.decide(decided, i1, false)
	flagged := f.group(p, screend.GroupFlagged, f.image(p, "2.png", screend.ImageEmbedded, ""))
	open := f.group(p, screend.GroupOpen, f.image(p, "3.png", screend.ImageEmbedded, ""))
	other := f.group(q, screend.GroupFlagged, f.image(q, "1.png", screend.ImageEmbedded, ""))

	waiting, err := f.db.ProjectsWaiting(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []sql.WaitingProject{{ID: p, Root: "/inbox", Name: "p"}, {ID: q, Root: "/inbox", Name: "q"}}; !slices.Equal(sortedProjects(waiting), want) {
		t.Errorf("projects waiting %+v, want %+v", waiting, want)
	}
	n, err := f.db.FailGroupsOfMissingProject(f.ctx, p, "/inbox/p")
	if err != nil || n != 2 {
		t.Errorf("fail groups of a missing project: %d (%v), want 2 (the decided and the flagged group)", n, err)
	}
	for _, c := range []struct {
		group int64
		state string
	}{{decided, "failed"}, {flagged, "failed"}, {open, "open"}, {other, "flagged"}} {
		state, reason := f.groupState(c.group)
		if state != c.state {
			t.Errorf("group %d: %s, want %s", c.group, state, c.state)
		}
		if state == "failed" && (reason == nil || *reason != "project folder /inbox/p is gone (renamed or deleted)") {
			t.Errorf("group %d failed with %v", c.group, reason)
		}
	}
	waiting, err = f.db.ProjectsWaiting(f.ctx)
	if err != nil || len(waiting) != 1 || waiting[0].ID != q {
		t.Errorf("projects waiting %+v (%v), want q alone", waiting, err)
	}

	i := f.image(q, "2.png", screend.ImageEmbedded, "")
	g := f.group(q, screend.GroupClosed, i)
	f.decide(g, i, false)
	if err := f.db.FailGroup(f.ctx, g, "decision cannot be applied: no image", 0); err != nil {
		t.Fatal(err)
	}
	if state, reason := f.groupState(g); state != "failed" || reason == nil || *reason != "decision cannot be applied: no image" {
		t.Errorf("group failed for good: %s %v", state, reason)
	}
}

func sortedProjects(ps []sql.WaitingProject) []sql.WaitingProject {
	return slices.SortedFunc(slices.Values(ps), func(a, b sql.WaitingProject) int { return int(a.ID - b.ID) })
}
