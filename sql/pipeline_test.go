package sql_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"screend"
	"screend/sql"
	"screend/sql/sqltest"
)

// The pipeline's verbs on images, in the order it uses them: claim,
// begin a decode, then store embeddings or a duplicate, or give the claim
// back (release, defer) or record the file gone.

func claimedIDs(cs []sql.ClaimedImage) []int64 {
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	slices.Sort(ids)
	return ids
}

// imageRow reads what the pipeline's verbs change of an image.
type imageRow struct {
	State       string
	Reason      *string
	ClaimedBy   *int32
	Decodes     int
	DuplicateOf *int64
	Waits       bool // retry_after is in the future
}

func (f *fixture) imageRow(id int64) imageRow {
	f.t.Helper()
	var r imageRow
	f.scan(`SELECT state, reason, claimed_by, decodes, duplicate_of, coalesce(retry_after > now(), false)
		FROM screend.images WHERE image_id = $1`, []any{id},
		&r.State, &r.Reason, &r.ClaimedBy, &r.Decodes, &r.DuplicateOf, &r.Waits)
	return r
}

// TestClaimImages claims waiting images oldest first up to the limit,
// never those of a live instance nor those waiting for a retry, and takes
// over the claims of an instance that is gone.
func TestClaimImages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.instance(), f.instance()
	p := f.project("p")
	d1, d2, d3 := f.image(p, "1.png", screend.ImageDiscovered, ""), f.image(p, "2.png", screend.ImageDiscovered, ""),
		f.image(p, "3.png", screend.ImageDiscovered, "")
	f.image(p, "done.png", screend.ImageEmbedded, "")
	claim := func(in *sql.Instance, limit int) []int64 {
		t.Helper()
		cs, err := f.db.ClaimImages(f.ctx, in.ID, limit)
		if err != nil {
			t.Fatal(err)
		}
		return claimedIDs(cs)
	}

	got, err := f.db.ClaimImages(f.ctx, a.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if ids := claimedIDs(got); !slices.Equal(ids, []int64{d1, d2}) {
		t.Errorf("claimed %v, want the two oldest %v", ids, []int64{d1, d2})
	}
	for _, c := range got {
		if c.ProjectID != p || !strings.HasPrefix(c.Path, "/inbox/p/") || c.Size != 1 || c.MTime.IsZero() {
			t.Errorf("claimed image %+v lacks what the pipeline needs", c)
		}
	}
	if ids := claim(b, 10); !slices.Equal(ids, []int64{d3}) {
		t.Errorf("second instance claimed %v, want %v alone", ids, []int64{d3})
	}
	if ids := claim(a, 10); len(ids) != 0 {
		t.Errorf("claimed %v, all of them held by live instances", ids)
	}
	if err := f.db.ReleaseImages(f.ctx, a.ID, []int64{d1}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if r := f.imageRow(d1); r.ClaimedBy != nil || !r.Waits {
		t.Errorf("released image %+v, want unclaimed and waiting an hour", r)
	}
	if ids := claim(b, 10); len(ids) != 0 {
		t.Errorf("claimed %v while the released image waits", ids)
	}
	f.closeInstance(b)
	if ids := claim(a, 10); !slices.Equal(ids, []int64{d3}) {
		t.Errorf("after the second instance went: claimed %v, want its %v", ids, []int64{d3})
	}
}

// TestStoreProcessedImages stores embeddings and duplicates of claimed
// images (the content of the first becomes the original of the next),
// skips images the instance no longer claims, and records deferred and
// gone files with their reasons.
func TestStoreProcessedImages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.instance(), f.instance()
	e := f.embedder("e")
	p := f.project("p")
	var ids []int64
	for _, n := range []string{"1.png", "2.png", "3.png", "4.png", "5.png", "6.png"} {
		ids = append(ids, f.image(p, n, screend.ImageDiscovered, ""))
	}
	first, dupe, lost, deferred, gone, other := ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]
	f.exec(`UPDATE screend.images SET claimed_by = $2 WHERE image_id = ANY($1)`, ids[:5], a.ID)
	f.exec(`UPDATE screend.images SET claimed_by = $2 WHERE image_id = $1`, other, b.ID)

	sha := []byte("same content")
	if dup, n, err := f.db.BeginDecode(f.ctx, first, p, sha); err != nil || dup != 0 || n != 1 {
		t.Errorf("first decode begun: %d, duplicate of %d (%v), want 1, none", n, dup, err)
	}
	if dup, n, err := f.db.BeginDecode(f.ctx, first, p, sha); err != nil || dup != 0 || n != 2 {
		t.Errorf("second decode begun: %d, duplicate of %d (%v), want 2, none", n, dup, err)
	}
	if err := f.db.EndDecode(f.ctx, []int64{first}); err != nil {
		t.Fatal(err)
	}
	if dup, n, err := f.db.BeginDecode(f.ctx, first, p, sha); err != nil || dup != 0 || n != 1 {
		t.Errorf("decode begun after one finished: %d, duplicate of %d (%v), want 1, none", n, dup, err)
	}
	if _, _, err := f.db.BeginDecode(f.ctx, 1<<40, p, []byte("no such image")); err == nil {
		t.Error("began the decode of an image that does not exist")
	}
	stored, dups, err := f.db.StoreEmbeddings(f.ctx, a.ID, e, []sql.Embedded{
		{ID: first, ProjectID: p, SHA256: sha, Format: "png", Width: 64, Height: 48, Vector: []float32{1, 0}},
		{ID: dupe, ProjectID: p, SHA256: sha, Format: "png", Width: 64, Height: 48, Vector: []float32{1, 0}},
		{ID: other, ProjectID: p, SHA256: []byte("other"), Format: "png", Width: 8, Height: 8, Vector: []float32{0, 1}},
	})
	if err != nil || stored != 1 || dups != 1 {
		t.Fatalf("store embeddings: %d stored, %d duplicates (%v); want 1, 1 (the image claimed by another instance skipped)", stored, dups, err)
	}
	if r := f.imageRow(first); r.State != "embedded" || r.ClaimedBy != nil || r.Decodes != 0 {
		t.Errorf("first image %+v, want embedded, unclaimed, its decode ended by the store", r)
	}
	// The pipeline counts decodes as ended a little later, in batches: the
	// row whose store ended its decode already is left as it is.
	var before, after string
	f.scan(`SELECT xmin::text FROM screend.images WHERE image_id = $1`, []any{first}, &before)
	if err := f.db.EndDecode(f.ctx, []int64{first}); err != nil {
		t.Fatal(err)
	}
	f.scan(`SELECT xmin::text FROM screend.images WHERE image_id = $1`, []any{first}, &after)
	if before != after {
		t.Errorf("EndDecode wrote the row of an image whose decode its store had ended (xmin %s, then %s)", before, after)
	}
	if r := f.imageRow(dupe); r.State != "duplicate" || r.DuplicateOf == nil || *r.DuplicateOf != first {
		t.Errorf("second image %+v, want a duplicate of %d", r, first)
	}
	if r := f.imageRow(other); r.State != "discovered" || r.ClaimedBy == nil || *r.ClaimedBy != b.ID {
		t.Errorf("image of another instance %+v, want untouched", r)
	}
	// A later batch: content already embedded in the project is a
	// duplicate of its holder; the same content in another project is not.
	q := f.project("q")
	later, elsewhere := f.image(p, "7.png", screend.ImageDiscovered, ""), f.image(q, "1.png", screend.ImageDiscovered, "")
	f.exec(`UPDATE screend.images SET claimed_by = $2 WHERE image_id = ANY($1)`, []int64{later, elsewhere}, a.ID)
	stored, dups, err = f.db.StoreEmbeddings(f.ctx, a.ID, e, []sql.Embedded{
		{ID: later, ProjectID: p, SHA256: sha, Format: "png", Width: 64, Height: 48, Vector: []float32{1, 0}},
		{ID: elsewhere, ProjectID: q, SHA256: sha, Format: "png", Width: 64, Height: 48, Vector: []float32{1, 0}},
	})
	if err != nil || stored != 1 || dups != 1 {
		t.Fatalf("store a later batch: %d stored, %d duplicates (%v); want 1, 1", stored, dups, err)
	}
	if r := f.imageRow(later); r.State != "duplicate" || r.DuplicateOf == nil || *r.DuplicateOf != first {
		t.Errorf("later image %+v, want a duplicate of %d", r, first)
	}
	if r := f.imageRow(elsewhere); r.State != "embedded" {
		t.Errorf("image of another project with the same content %+v, want embedded", r)
	}
	var vectors int
	f.scan(`SELECT count(*) FROM screend.embeddings WHERE embedder_id = $1`, []any{e}, &vectors)
	if vectors != 2 {
		t.Errorf("%d vectors stored, want 2", vectors)
	}
	// The content is held: another image with it needs no decode, and
	// none is counted as begun.
	if dup, n, err := f.db.BeginDecode(f.ctx, lost, p, sha); err != nil || dup != first || n != 0 {
		t.Errorf("begin decode of held content: duplicate of %d, %d begun (%v), want %d, 0", dup, n, err, first)
	}
	if r := f.imageRow(lost); r.Decodes != 0 {
		t.Errorf("decodes of a duplicate %d, want 0", r.Decodes)
	}
	if dup, _, err := f.db.BeginDecode(f.ctx, first, p, sha); err != nil || dup != 0 {
		t.Errorf("begin decode of the only holder of its content: duplicate of %d (%v), want none", dup, err)
	}

	f.exec(`UPDATE screend.images SET decodes = 1 WHERE image_id = $1`, lost)
	if err := f.db.MarkDuplicate(f.ctx, a.ID, lost, first, sha); err != nil {
		t.Fatal(err)
	}
	if r := f.imageRow(lost); r.Decodes != 0 {
		t.Errorf("decodes of an image recorded as a duplicate %d, want 0 (its decode ended)", r.Decodes)
	}
	if err := f.db.DeferImage(f.ctx, a.ID, deferred, "project folder not there", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := f.db.MarkGone(f.ctx, a.ID, gone, "file vanished before processing"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id     int64
		state  string
		reason string
		waits  bool
	}{
		{lost, "duplicate", "", false},
		{deferred, "discovered", "project folder not there", true},
		{gone, "gone", "file vanished before processing", false},
	} {
		r := f.imageRow(c.id)
		reason := ""
		if r.Reason != nil {
			reason = *r.Reason
		}
		if r.State != c.state || reason != c.reason || r.Waits != c.waits || r.ClaimedBy != nil {
			t.Errorf("image %d: %+v (reason %q), want %s, %q, waiting %v, unclaimed", c.id, r, reason, c.state, c.reason, c.waits)
		}
	}
	// The same verbs do nothing to an image the instance does not claim.
	if err := f.db.MarkGone(f.ctx, a.ID, other, "not mine"); err != nil {
		t.Fatal(err)
	}
	if r := f.imageRow(other); r.State != "discovered" {
		t.Errorf("image of another instance marked %s", r.State)
	}
}

// TestEmbedders registers an embedder once per name and dimension, and
// queues the embedded images without its vector again after a switch.
func TestEmbedders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	old := f.embedder("old")
	if again := f.embedder("old"); again != old {
		t.Errorf("registering again: id %d, want %d", again, old)
	}
	if _, err := f.db.EnsureEmbedder(f.ctx, "old", 3); err == nil {
		t.Error("registered a known name with another dimension")
	}
	// An encoder with several views gives longer vectors than pgvector
	// could index (2,000 dimensions): they register all the same.
	if _, err := f.db.EnsureEmbedder(f.ctx, "two-views", 2560); err != nil {
		t.Errorf("a 2,560-dimensional embedder: %v", err)
	}
	p := f.project("p")
	both, only := f.image(p, "both.png", screend.ImageEmbedded, ""), f.image(p, "only.png", screend.ImageEmbedded, "")
	f.embed(old, both, 1, 0)
	f.embed(old, only, 1, 0)
	next := f.embedder("next")
	f.embed(next, both, 0, 1)
	n, err := f.db.ReembedMissing(f.ctx, next)
	if err != nil || n != 1 {
		t.Fatalf("re-embed missing: %d (%v), want 1", n, err)
	}
	if r := f.imageRow(only); r.State != "discovered" {
		t.Errorf("image without the new embedder's vector: %s, want discovered", r.State)
	}
	if r := f.imageRow(both); r.State != "embedded" {
		t.Errorf("image with both vectors: %s, want embedded", r.State)
	}
}

// TestRecomputableCommitsDoNotWait: a transaction begun with Recomputable
// commits without waiting for the disk, and only that transaction.
func TestRecomputableCommitsDoNotWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	conn, err := sqltest.Pool(f.db).Acquire(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	setting := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}) string {
		t.Helper()
		var v string
		if err := q.QueryRow(f.ctx, `SHOW synchronous_commit`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	var inside string
	err = pgx.BeginTxFunc(f.ctx, conn, sql.Recomputable, func(tx pgx.Tx) error {
		inside = setting(tx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if after := setting(conn); inside != "off" || after != "on" {
		t.Errorf("synchronous_commit %q in a recomputable transaction and %q after it, want off and on", inside, after)
	}
}
