package sql_test

import (
	"slices"
	"testing"

	"screend"
	"screend/sql"
)

func groupIDs(gs []sql.ClaimedGroup) []int64 {
	ids := make([]int64, len(gs))
	for i, g := range gs {
		ids[i] = g.ID
	}
	return ids
}

// TestClaimClosedGroups claims closed groups whose images are all
// processed, oldest first and up to the limit; a group claimed by a live
// instance is skipped, one of the claimer itself or of an instance that
// is gone is claimed again.
func TestClaimClosedGroups(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.project("p")
	a1 := f.image(p, "a.png", screend.ImageEmbedded, "")
	ready := f.group(p, screend.GroupClosed, a1, f.duplicate(p, "b.png", a1))
	f.group(p, screend.GroupClosed, f.image(p, "c.png", screend.ImageDiscovered, ""))
	f.group(p, screend.GroupOpen, f.image(p, "d.png", screend.ImageEmbedded, ""))
	f.group(p, screend.GroupFlagged, f.image(p, "e.png", screend.ImageEmbedded, ""))
	other := f.group(p, screend.GroupClosed, f.image(p, "f.png", screend.ImageEmbedded, ""))
	later := f.group(p, screend.GroupClosed, f.image(p, "g.png", screend.ImageEmbedded, ""))
	a, b := f.instance(), f.instance()
	f.exec(`UPDATE screend.groups SET claimed_by = $2 WHERE group_id = $1`, other, b.ID)

	for _, c := range []struct {
		name     string
		instance *sql.Instance
		limit    int
		before   func()
		want     []int64
	}{
		{"the oldest up to the limit", a, 1, nil, []int64{ready}},
		{"its own claims again, not those of a live instance", a, 10, nil, []int64{ready, later}},
		{"none claimed by another live instance", b, 10, nil, []int64{other}},
		{"the claims of an instance that is gone", a, 10, func() { f.closeInstance(b) }, []int64{ready, other, later}},
	} {
		if c.before != nil {
			c.before()
		}
		got, err := f.db.ClaimClosedGroups(f.ctx, c.instance.ID, c.limit)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(groupIDs(got), c.want) {
			t.Errorf("%s: claimed %v, want %v", c.name, groupIDs(got), c.want)
		}
		for _, g := range got {
			if g.ProjectID != p || g.Project != "p" {
				t.Errorf("%s: group %d is of project %d %q, want %d \"p\"", c.name, g.ID, g.ProjectID, g.Project, p)
			}
		}
	}
}

// TestLoadClosedGroup reads a group's images in order, a duplicate with
// the size and embedding of its original, an image without an embedding
// by the running embedder with none, and finds a conflict with a decided
// group of the same content.
func TestLoadClosedGroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.project("p")
	e, old := f.embedder("e"), f.embedder("old")
	orig := f.image(p, "orig.png", screend.ImageEmbedded, "s1")
	f.embed(e, orig, 1, 0)
	f.exec(`UPDATE screend.images SET width = 640, height = 480 WHERE image_id = $1`, orig)
	f.group(p, screend.GroupFlagged, orig)
	dup := f.duplicate(p, "dup.png", orig)
	bare := f.image(p, "bare.png", screend.ImageEmbedded, "s2")
	f.embed(old, bare, 0, 1)
	g := f.group(p, screend.GroupClosed, bare, dup)

	got, err := f.db.LoadClosedGroup(f.ctx, sql.ClaimedGroup{ID: g, ProjectID: p, Project: "p"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != g || got.Conflict {
		t.Errorf("group %d conflict %v, want %d false (the same content is only in a flagged group)", got.ID, got.Conflict, g)
	}
	if len(got.Images) != 2 {
		t.Fatalf("%d images, want 2", len(got.Images))
	}
	if im := got.Images[0]; im.ID != bare || im.Path != "/inbox/p/bare.png" || im.RelPath != "bare.png" || im.Embedding != nil {
		t.Errorf("first image %+v, want %d at /inbox/p/bare.png without an embedding by e", im, bare)
	}
	if im := got.Images[1]; im.ID != dup || im.Width != 640 || im.Height != 480 || !slices.Equal(im.Embedding, []float32{1, 0}) {
		t.Errorf("second image %+v, want %d with its original's 640x480 and embedding [1 0]", im, dup)
	}

	again := f.image(p, "again.png", screend.ImageEmbedded, "s2")
	f.decide(f.group(p, screend.GroupClosed, again), again, false)
	got, err = f.db.LoadClosedGroup(f.ctx, sql.ClaimedGroup{ID: g, ProjectID: p, Project: "p"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Conflict {
		t.Error("no conflict, want one: bare.png's content is in a decided group")
	}
}

// TestTrainingImageWithin looks among the images of groups a human decided
// and of imported decisions only, by the embedder asked for, and compares
// with the radius inclusively.
func TestTrainingImageWithin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.project("p")
	e, other := f.embedder("e"), f.embedder("other")
	within := func(embedder int32, radius float64, v ...float32) bool {
		t.Helper()
		ok, err := f.db.TrainingImageWithin(f.ctx, embedder, v, radius)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if within(e, 2, 1, 0) {
		t.Fatal("an image within 2 without training data")
	}
	auto := f.image(p, "auto.png", screend.ImageEmbedded, "")
	f.embed(e, auto, 1, 0)
	f.decide(f.group(p, screend.GroupClosed, auto), auto, true)
	human := f.image(p, "human.png", screend.ImageEmbedded, "")
	f.embed(e, human, 0, 1)
	f.embed(other, human, 1, 0)
	f.decide(f.group(p, screend.GroupClosed, human), human, false)

	// human.png is orthogonal to (1, 0): at distance 1; auto.png, at 0, is
	// no training data.
	if within(e, 0.99, 1, 0) || !within(e, 1, 1, 0) {
		t.Error("want human.png found at distance 1, not closer")
	}
	if !within(other, 0, 1, 0) {
		t.Error("by the other embedder, human.png is at distance 0")
	}
	// A duplicate's decision counts for the original's vector.
	orig := f.image(p, "orig.png", screend.ImageEmbedded, "c")
	f.embed(e, orig, 1, 1)
	dup := f.duplicate(p, "dup.png", orig)
	f.decide(f.group(p, screend.GroupClosed, dup), dup, false)
	if !within(e, 0.01, 1, 1) {
		t.Error("the original of a human-decided duplicate is not found")
	}
	// An image matched to an imported decision.
	imp := f.image(p, "imp.png", screend.ImageEmbedded, "")
	f.embed(e, imp, -1, 0)
	f.exec(`INSERT INTO screend.imported_decisions (source, line, project, candidate_files)
		VALUES ('log', 1, 'p', '{imp.png}')`)
	if !within(e, 0.01, -1, 0) {
		t.Error("the image of an imported decision is not found")
	}
}

// TestStoreScore stores a flagged and a decided score with the images'
// scores and ends the claim; a group not claimed by the instance, or no
// longer closed, is left alone.
func TestStoreScore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.project("p")
	a, b := f.instance(), f.instance()
	i1, i2 := f.image(p, "1.png", screend.ImageEmbedded, ""), f.image(p, "2.png", screend.ImageEmbedded, "")
	flagged := f.group(p, screend.GroupClosed, i1)
	decided := f.group(p, screend.GroupClosed, i2)
	if _, err := f.db.ClaimClosedGroups(f.ctx, a.ID, 10); err != nil {
		t.Fatal(err)
	}

	if ok, err := f.db.StoreScore(f.ctx, b.ID, flagged, sql.Score{State: screend.GroupFlagged}); err != nil || ok {
		t.Errorf("store by an instance without the claim: %v %v, want false nil", ok, err)
	}
	ok, err := f.db.StoreScore(f.ctx, a.ID, flagged, sql.Score{State: screend.GroupFlagged,
		Reasons: []screend.Reason{screend.ReasonNoModel, screend.ReasonSingleImage}})
	if err != nil || !ok {
		t.Fatalf("store flagged: %v %v", ok, err)
	}
	var state string
	var reasons []string
	var claimed *int32
	var flaggedAt, outcome *string
	f.scan(`SELECT state, reasons, claimed_by, flagged_at::text, suggested_outcome FROM screend.groups WHERE group_id = $1`,
		[]any{flagged}, &state, &reasons, &claimed, &flaggedAt, &outcome)
	if state != "flagged" || !slices.Equal(reasons, []string{"no_model", "single_image"}) || claimed != nil || flaggedAt == nil || outcome != nil {
		t.Errorf("flagged group: state %s reasons %v claimed_by %v flagged_at %v outcome %v", state, reasons, claimed, flaggedAt, outcome)
	}
	if ok, err := f.db.StoreScore(f.ctx, a.ID, flagged, sql.Score{State: screend.GroupFlagged}); err != nil || ok {
		t.Errorf("store again: %v %v, want false nil", ok, err)
	}

	ok, err = f.db.StoreScore(f.ctx, a.ID, decided, sql.Score{State: screend.GroupDecided, Outcome: screend.OutcomeCrop,
		ChosenImageID: i2, Crop: []float32{0, 0, 0.5, 0.5}, Confidence: 0.9, Scores: map[int64]float32{i2: 2.5}})
	if err != nil || !ok {
		t.Fatalf("store decided: %v %v", ok, err)
	}
	var score float32
	var decisionOutcome string
	var automatic bool
	var crop []float32
	f.scan(`
		SELECT g.state, gi.score, d.outcome, d.automatic, d.crop FROM screend.groups g
		JOIN screend.group_images gi USING (group_id) JOIN screend.decisions d USING (group_id)
		WHERE g.group_id = $1`, []any{decided}, &state, &score, &decisionOutcome, &automatic, &crop)
	if state != "decided" || score != 2.5 || decisionOutcome != "crop" || !automatic || !slices.Equal(crop, []float32{0, 0, 0.5, 0.5}) {
		t.Errorf("decided group: state %s score %v decision %s automatic %v crop %v", state, score, decisionOutcome, automatic, crop)
	}
}
