package sql_test

import (
	"slices"
	"testing"
	"time"

	"screend"
	"screend/sql/sqltest"
)

// groupsOf returns the groups of project (id, state, image ids in order),
// oldest first.
func (f *fixture) groupsOf(project int64) (ids []int64, states []string, images [][]int64) {
	f.t.Helper()
	r, err := sqltest.Pool(f.db).Query(f.ctx, `
		SELECT g.group_id, g.state, array_agg(gi.image_id ORDER BY gi.position)
		FROM screend.groups g JOIN screend.group_images gi USING (group_id)
		WHERE g.project_id = $1 GROUP BY g.group_id ORDER BY g.group_id`, project)
	if err != nil {
		f.t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		var id int64
		var state string
		var imgs []int64
		if err := r.Scan(&id, &state, &imgs); err != nil {
			f.t.Fatal(err)
		}
		ids, states, images = append(ids, id), append(states, state), append(images, imgs)
	}
	if err := r.Err(); err != nil {
		f.t.Fatal(err)
	}
	return ids, states, images
}

// TestRegroup stores the closing rule's groups: an open group keeps its id
// while it stays the same, a grown one is replaced, and a settled project's
// groups close, each image once.
func TestRegroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.project("p")
	const settle = time.Minute
	s1 := f.image(p, "20250708_060000_stage1_generated.png", screend.ImageEmbedded, "")
	s2 := f.image(p, "20250708_060000_stage2_upscaled.png", screend.ImageDiscovered, "")

	if r, err := f.db.Regroup(f.ctx, p, settle); err != nil || r.Closed != 0 || !r.InOrder {
		t.Fatalf("regroup a busy project: %+v (%v), want nothing closed, in order", r, err)
	}
	ids, states, images := f.groupsOf(p)
	if len(ids) != 1 || states[0] != "open" || !slices.Equal(images[0], []int64{s1, s2}) {
		t.Fatalf("groups %v %v %v, want one open group of both images", ids, states, images)
	}
	open := ids[0]
	if _, err := f.db.Regroup(f.ctx, p, settle); err != nil {
		t.Fatal(err)
	}
	if again, _, _ := f.groupsOf(p); !slices.Equal(again, []int64{open}) {
		t.Errorf("regrouping an unchanged project: groups %v, want %d kept", again, open)
	}

	s3 := f.image(p, "20250708_060000_stage3_enhanced.png", screend.ImageEmbedded, "")
	f.exec(`UPDATE screend.images SET state = 'embedded' WHERE image_id = $1`, s2)
	lone := f.image(p, "20250708_080000_stage1_generated.png", screend.ImageEmbedded, "")
	if settled, err := f.db.ProjectsToSettle(f.ctx, settle); err != nil || len(settled) != 0 {
		t.Errorf("projects to settle while p is busy: %v (%v), want none", settled, err)
	}
	f.exec(`UPDATE screend.projects SET last_file_at = now() - interval '1 hour' WHERE project_id = $1`, p)
	if settled, err := f.db.ProjectsToSettle(f.ctx, settle); err != nil || !slices.Equal(settled, []int64{p}) {
		t.Errorf("projects to settle: %v (%v), want [%d]", settled, err, p)
	}
	r, err := f.db.Regroup(f.ctx, p, settle)
	if err != nil || r.Closed != 2 {
		t.Fatalf("regroup a settled project: closed %d (%v), want 2", r.Closed, err)
	}
	at, quiet, err := f.db.LastFile(f.ctx, p)
	if err != nil || !at.Equal(r.LastFileAt) || quiet < time.Hour {
		t.Errorf("last file %v, %v ago (%v), want %v, an hour ago", at, quiet, err, r.LastFileAt)
	}
	ids, states, images = f.groupsOf(p)
	if len(ids) != 2 || ids[0] == open || !slices.Equal(states, []string{"closed", "closed"}) ||
		!slices.Equal(images[0], []int64{s1, s2, s3}) || !slices.Equal(images[1], []int64{lone}) {
		t.Errorf("groups %v %v %v, want the grown group replaced and closed, and the lone image closed alone", ids, states, images)
	}
	if settled, err := f.db.ProjectsToSettle(f.ctx, settle); err != nil || len(settled) != 0 {
		t.Errorf("projects to settle after closing: %v (%v), want none", settled, err)
	}
	if r, err := f.db.Regroup(f.ctx, p, settle); err != nil || r.Closed != 0 {
		t.Errorf("regroup again: closed %d (%v), want 0 (closed groups are final)", r.Closed, err)
	}
}

// TestRegroupDropsGoneGroups drops an open group whose files all went
// gone, keeps the other, and tells an arrival out of order.
func TestRegroupDropsGoneGroups(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.project("p")
	const settle = time.Minute
	b1 := f.image(p, "20250708_070000_stage1_generated.png", screend.ImageEmbedded, "")
	b2 := f.image(p, "20250708_070000_stage2_upscaled.png", screend.ImageDiscovered, "")
	a1 := f.image(p, "20250708_060000_stage1_generated.png", screend.ImageDiscovered, "")
	a2 := f.image(p, "20250708_060000_stage2_upscaled.png", screend.ImageDiscovered, "")
	r, err := f.db.Regroup(f.ctx, p, settle)
	if err != nil || r.InOrder {
		t.Fatalf("regroup: %+v (%v), want out of order", r, err)
	}
	ids, _, images := f.groupsOf(p) // the earlier pictures' group first
	if len(ids) != 2 || !slices.Equal(images[0], []int64{a1, a2}) || !slices.Equal(images[1], []int64{b1, b2}) {
		t.Fatalf("groups %v %v, want [%d %d] and [%d %d]", ids, images, a1, a2, b1, b2)
	}
	f.exec(`UPDATE screend.images SET state = 'gone', reason = 'gone' WHERE image_id = ANY($1)`, []int64{a1, a2})
	if _, err := f.db.Regroup(f.ctx, p, settle); err != nil {
		t.Fatal(err)
	}
	var left int
	f.scan(`SELECT count(*) FROM screend.groups WHERE project_id = $1`, []any{p}, &left)
	if again, states, _ := f.groupsOf(p); left != 1 || !slices.Equal(again, ids[1:]) || states[0] != "open" {
		t.Errorf("%d groups after a group's files went gone: %v %v, want only %d, open", left, again, states, ids[1])
	}
}

// TestFinalGroupMarks: images.in_final_group is set for the members of a
// group once it leaves 'open', whoever writes the groups, and migration
// 017 sets it for the groups that were final before it.
func TestFinalGroupMarks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.project("p")
	img := func(name string) int64 { return f.image(p, name, screend.ImageEmbedded, "") }
	a1, a2 := img("a1.png"), img("a2.png")
	b1, b2 := img("b1.png"), img("b2.png")
	c1 := img("c1.png")
	f.group(p, screend.GroupFlagged, a1, a2)
	b := f.group(p, screend.GroupOpen, b1, b2)
	final := func() []int64 {
		t.Helper()
		var ids []int64
		f.scan(`SELECT coalesce(array_agg(image_id ORDER BY image_id), '{}') FROM screend.images
			WHERE project_id = $1 AND in_final_group`, []any{p}, &ids)
		return ids
	}
	if got := final(); !slices.Equal(got, []int64{a1, a2}) {
		t.Errorf("final after adding groups: %v, want the flagged group's %v", got, []int64{a1, a2})
	}
	f.exec(`UPDATE screend.groups SET state = 'closed' WHERE group_id = $1`, b)
	if got := final(); !slices.Equal(got, []int64{a1, a2, b1, b2}) {
		t.Errorf("final after closing a group: %v, want all but %d", got, c1)
	}

	f.exec(`UPDATE screend.images SET in_final_group = false`)
	f.exec(migrationSQL(t, 17))
	if got := final(); !slices.Equal(got, []int64{a1, a2, b1, b2}) {
		t.Errorf("final after migration 017 again: %v, want all but %d", got, c1)
	}
}
