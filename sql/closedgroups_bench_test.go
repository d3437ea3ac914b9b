package sql_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"screend/sql/sqltest"
)

// BenchmarkTrainingImageWithinUnfamiliar is the familiarity check of a
// group unlike all 4,500 training images (1,500 groups of three a human
// decided, 498 dimensions): it reads every training vector.
func BenchmarkTrainingImageWithinUnfamiliar(b *testing.B) {
	ctx := context.Background()
	db := sqltest.New(b)
	pool := sqltest.Pool(db)
	embedder, err := db.EnsureEmbedder(ctx, "builtin-bench", 498)
	if err != nil {
		b.Fatal(err)
	}
	exec := func(q string) {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	exec(`INSERT INTO screend.projects (root, name) VALUES ('/inbox', 'p')`)
	exec(`
		INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, state)
		SELECT 1, '/inbox/p/' || g, g, g, 1, now(), 1, 'embedded' FROM generate_series(1, 4500) g`)
	// Random vectors (uniform in [-1, 1) per value) are nearly orthogonal
	// to each other and to v: none lies within the radius.
	exec(`
		INSERT INTO screend.embeddings (image_id, embedder_id, embedding)
		SELECT i.image_id, (SELECT embedder_id FROM screend.embedders WHERE name = 'builtin-bench'), r.v::vector
		FROM screend.images i
		CROSS JOIN LATERAL (SELECT array_agg(random() * 2 - 1) AS v FROM generate_series(1, 498) WHERE i.image_id > 0) r`)
	groupInThrees(b, pool, 1, "decided")
	exec(`
		INSERT INTO screend.decisions (group_id, outcome, chosen_image_id, automatic, decided_by)
		SELECT group_id, 'select', min(image_id), false, 'ann' FROM screend.group_images GROUP BY group_id`)
	exec(`ANALYZE`)
	rng := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, 498)
	for i := range v {
		v[i] = float32(rng.Float64()*2 - 1)
	}
	for b.Loop() {
		if ok, err := db.TrainingImageWithin(ctx, embedder, v, 0.2); err != nil || ok {
			b.Fatalf("within: %v, %v", ok, err)
		}
	}
}
