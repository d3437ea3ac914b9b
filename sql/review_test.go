package sql_test

import (
	"context"
	"testing"

	"screend/sql"
	"screend/sql/sqltest"
)

// TestModelAgreement resolves two flagged groups a model made suggestions
// for, one as suggested and one not, and reads the agreement view.
func TestModelAgreement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqltest.New(t)
	project, err := db.EnsureProject(ctx, "/inbox", "p")
	if err != nil {
		t.Fatal(err)
	}
	var embedder int32
	if embedder, err = db.EnsureEmbedder(ctx, "test", 2); err != nil {
		t.Fatal(err)
	}
	model, err := db.InsertModel(ctx, sql.Model{EmbedderID: embedder, Ranker: []byte{1}, Crop: []byte{1}, Reject: []byte{1},
		Params: []byte(`{}`), Metrics: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	flagged := func(names ...string) (int64, []int64) {
		var ids []int64
		for _, n := range names {
			var id int64
			err := sqltest.Pool(db).QueryRow(ctx, `
				INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state)
				VALUES ($1, '/inbox/p/' || $2, $2, $2, 1, now(), 1, 'embedded') RETURNING image_id`, project, n).Scan(&id)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		var group int64
		err := sqltest.Pool(db).QueryRow(ctx, `
			WITH g AS (INSERT INTO screend.groups (project_id, state, suggested_outcome, suggested_image_id, confidence, model_id, reasons, flagged_at)
				VALUES ($1, 'flagged', 'select', $2, 0.7, $3, '{low_margin}', now()) RETURNING group_id)
			INSERT INTO screend.group_images (group_id, image_id, position)
			SELECT g.group_id, u.id, u.n - 1 FROM g, unnest($4::bigint[]) WITH ORDINALITY AS u(id, n)
			RETURNING group_id`, project, ids[1], model, ids).Scan(&group)
		if err != nil {
			t.Fatal(err)
		}
		return group, ids
	}
	g1, ids1 := flagged("a1.png", "a2.png")
	g2, ids2 := flagged("b1.png", "b2.png")
	if _, err := db.Resolve(ctx, sql.Resolution{GroupID: g1, ChosenImageID: ids1[1], Reviewer: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Resolve(ctx, sql.Resolution{GroupID: g2, ChosenImageID: ids2[0], Reviewer: "ann"}); err != nil {
		t.Fatal(err)
	}
	var decisions, agreed int
	var rate float64
	err = sqltest.Pool(db).QueryRow(ctx, `SELECT decisions, agreed, agreement_rate FROM screend.model_agreement WHERE project = 'p' AND model_id = $1`, model).
		Scan(&decisions, &agreed, &rate)
	if err != nil {
		t.Fatal(err)
	}
	if decisions != 2 || agreed != 1 || rate != 0.5 {
		t.Errorf("agreement %d of %d (%v), want 1 of 2 (0.5)", agreed, decisions, rate)
	}
	var suggested *int64
	var confidence *float32
	if err := sqltest.Pool(db).QueryRow(ctx, `SELECT suggested_image_id, confidence FROM screend.decisions WHERE group_id = $1`, g2).Scan(&suggested, &confidence); err != nil {
		t.Fatal(err)
	}
	if suggested == nil || *suggested != ids2[1] || confidence == nil || *confidence != 0.7 {
		t.Errorf("the decision does not keep the model's suggestion: %v %v", suggested, confidence)
	}
}
