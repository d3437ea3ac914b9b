package sql_test

import (
	"testing"
	"time"

	"screend"
)

// TestReadStatus counts by state, and as pending exactly the work the
// daemon can do without a human: a waiting image, an image in no group, an
// open group, a move not yet tried, the files a live watcher waits for;
// not a flagged group, nor failed work waiting for its retry (failing).
func TestReadStatus(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	live, gone := f.instance(), f.instance()
	p := f.project("p")
	f.image(p, "waiting.png", screend.ImageDiscovered, "")
	unseen := f.image(p, "unseen.png", screend.ImageDiscovered, "")
	f.exec(`UPDATE screend.images SET reason = 'cannot see the file' WHERE image_id = $1`, unseen)
	f.image(p, "ungrouped.png", screend.ImageEmbedded, "")
	f.group(p, screend.GroupOpen, f.image(p, "open.png", screend.ImageEmbedded, ""))
	f.group(p, screend.GroupFlagged, f.image(p, "flagged.png", screend.ImageEmbedded, ""))
	retry := f.image(p, "retry.png", screend.ImageEmbedded, "")
	retrying := f.group(p, screend.GroupClosed, retry)
	f.decide(retrying, retry, false)
	if err := f.db.FailGroup(f.ctx, retrying, "cannot list", time.Hour); err != nil {
		t.Fatal(err)
	}
	todo := f.journal(live.ID, p, "move.png")
	failed := f.journal(live.ID, p, "fail1.png", "fail2.png")
	if err := f.db.RetryMove(f.ctx, failed[0].ID, "permission denied", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := f.db.SetFilesWaiting(f.ctx, live.ID, 3); err != nil {
		t.Fatal(err)
	}
	if err := f.db.SetFilesWaiting(f.ctx, gone.ID, 5); err != nil {
		t.Fatal(err)
	}
	f.closeInstance(gone)

	st, err := f.db.ReadStatus(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 2 discovered + 1 ungrouped + 1 open group + 1 untried move + 3 files waiting.
	if st.Pending != 8 || st.Unseen != 1 || st.ReviewQueue != 1 || st.ActiveModel != nil {
		t.Errorf("pending %d, unseen %d, review queue %d, active model %v; want 8, 1, 1, none", st.Pending, st.Unseen, st.ReviewQueue, st.ActiveModel)
	}
	if st.Images[screend.ImageDiscovered] != 2 || st.Groups[screend.GroupApplying] != 2 || st.Groups[screend.GroupDecided] != 1 {
		t.Errorf("by state: images %v, groups %v", st.Images, st.Groups)
	}
	if len(st.Failing) != 2 {
		t.Fatalf("failing %+v, want the retried move and the retried group", st.Failing)
	}
	for _, fl := range st.Failing {
		switch {
		case fl.MoveID == failed[0].ID:
			if fl.Attempts != 1 || fl.Error != "permission denied" {
				t.Errorf("failing move %+v", fl)
			}
		case fl.MoveID == 0 && fl.GroupID != nil && *fl.GroupID == retrying:
			if fl.Error != "cannot list" {
				t.Errorf("failing group %+v", fl)
			}
		default:
			t.Errorf("unexpected failure %+v (the untried move is %d)", fl, todo[0].ID)
		}
	}
	if len(st.Readiness) != 0 {
		t.Errorf("readiness %+v without an active model, want none", st.Readiness)
	}
}
