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

	if closed, err := f.db.Regroup(f.ctx, p, settle); err != nil || closed != 0 {
		t.Fatalf("regroup a busy project: closed %d (%v), want 0", closed, err)
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
	closed, err := f.db.Regroup(f.ctx, p, settle)
	if err != nil || closed != 2 {
		t.Fatalf("regroup a settled project: closed %d (%v), want 2", closed, err)
	}
	ids, states, images = f.groupsOf(p)
	if len(ids) != 2 || ids[0] == open || !slices.Equal(states, []string{"closed", "closed"}) ||
		!slices.Equal(images[0], []int64{s1, s2, s3}) || !slices.Equal(images[1], []int64{lone}) {
		t.Errorf("groups %v %v %v, want the grown group replaced and closed, and the lone image closed alone", ids, states, images)
	}
	if settled, err := f.db.ProjectsToSettle(f.ctx, settle); err != nil || len(settled) != 0 {
		t.Errorf("projects to settle after closing: %v (%v), want none", settled, err)
	}
	if closed, err := f.db.Regroup(f.ctx, p, settle); err != nil || closed != 0 {
		t.Errorf("regroup again: closed %d (%v), want 0 (closed groups are final)", closed, err)
	}
}
