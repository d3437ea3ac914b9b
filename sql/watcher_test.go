package sql_test

import (
	"slices"
	"testing"
	"time"

	"screend"
)

// The watcher's verbs: projects, the files it knows, and the files gone
// since its last look.

// TestWatcherQueries: a project is created once per root and name, even
// with a name that is not UTF-8; the files known under a root are its
// images that are not gone; gone files are listed by when they went.
func TestWatcherQueries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.project("p")
	if again := f.project("p"); again != p {
		t.Errorf("project p again: %d, want %d", again, p)
	}
	latin1, err := f.db.EnsureProject(f.ctx, "/inbox", "caf\xe9")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := f.db.EnsureProject(f.ctx, "/inbox", "caf\xe9"); err != nil || again != latin1 || latin1 == p {
		t.Errorf("non-UTF-8 project again: %d (%v), want %d, not %d", again, err, latin1, p)
	}
	elsewhere, err := f.db.EnsureProject(f.ctx, "/other", "p")
	if err != nil || elsewhere == p {
		t.Errorf("p under another root: %d (%v), want a project of its own", elsewhere, err)
	}
	f.image(p, "kept.png", screend.ImageEmbedded, "")
	gone := f.image(p, "gone.png", screend.ImageEmbedded, "")
	f.exec(`UPDATE screend.images SET state = 'gone', reason = 'vanished', processed_at = now() WHERE image_id = $1`, gone)
	old := f.image(p, "old.png", screend.ImageEmbedded, "")
	f.exec(`UPDATE screend.images SET state = 'gone', reason = 'vanished', processed_at = now() - interval '1 hour' WHERE image_id = $1`, old)

	known, err := f.db.KnownFiles(f.ctx, "/inbox")
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := known["/inbox/p/kept.png"]; len(known) != 1 || !ok || k.Size != 1 || k.MTime.IsZero() {
		t.Errorf("known files %+v, want kept.png alone", known)
	}
	if other, err := f.db.KnownFiles(f.ctx, "/other"); err != nil || len(other) != 0 {
		t.Errorf("known files of another root: %+v (%v)", other, err)
	}
	paths, err := f.db.GoneSince(f.ctx, "/inbox", time.Now().Add(-time.Minute))
	if err != nil || !slices.Equal(paths, []string{"/inbox/p/gone.png"}) {
		t.Errorf("gone in the last minute: %v (%v), want gone.png alone", paths, err)
	}
}
