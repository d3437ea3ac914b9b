// Package trainingtest fills a test database with learnable human
// decisions: a project, embedded images grouped by stage, and a human
// decision per group, so that training, the promotion gate and retraining
// can be tested on the real schema.
package trainingtest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"screend/sql/sqltest"

	"github.com/pgvector/pgvector-go"

	"screend/sql"
)

// Options describes the decisions Seed makes. Zero fields take defaults.
type Options struct {
	// Embedder is the embedder's name (default "test-v1") and Dim its
	// dimension (default 16).
	Embedder string
	Dim      int
	// Project is the project's name (default "p").
	Project string
	// Groups is the number of groups (default 100).
	Groups int
	// Seed makes the data reproducible (default 1).
	Seed uint64
}

// Group is one seeded group.
type Group struct {
	ID       int64
	ImageIDs []int64
	Files    []string
	Chosen   int // -1 for a reject
	Crop     []float32
}

// Seed inserts opts.Groups groups with a human decision each and returns
// them. The human keeps the highest stage unless its embedding carries a
// "defect" (dimension 0), then the highest without one (an anomaly);
// rejects when dimension 1 is high; crops, top-anchored and centred, when
// dimension 2 is positive. Images are embedded with opts.Embedder.
func Seed(t testing.TB, db *sql.DB, opts Options) []Group {
	t.Helper()
	if opts.Embedder == "" {
		opts.Embedder = "test-v1"
	}
	if opts.Dim == 0 {
		opts.Dim = 16
	}
	if opts.Project == "" {
		opts.Project = "p"
	}
	if opts.Groups == 0 {
		opts.Groups = 100
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	ctx := context.Background()
	embedderID, err := db.EnsureEmbedder(ctx, opts.Embedder, opts.Dim)
	if err != nil {
		t.Fatal(err)
	}
	root := "/seed"
	projectID, err := db.EnsureProject(ctx, root, opts.Project)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 11))
	shapes := [][]float64{{1, 1.5, 2}, {1, 1.5, 2}, {1, 2}, {1, 2, 3}, {1, 1.5, 2, 3}}
	tokens := map[float64]string{1: "stage1_generated", 1.5: "stage1.5_face_swapped", 2: "stage2_upscaled", 3: "stage3_enhanced"}
	t0 := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(opts.Seed) * time.Hour)
	var out []Group
	for g := 0; g < opts.Groups; g++ {
		base := make([]float64, opts.Dim)
		for j := range base {
			base[j] = rng.NormFloat64()
		}
		stages := shapes[rng.IntN(len(shapes))]
		defect := make([]bool, len(stages))
		if rng.Float64() < 0.2 {
			defect[len(stages)-1] = true
		}
		grp := Group{Chosen: -1}
		at := t0.Add(time.Duration(g) * 10 * time.Minute)
		err := sqltest.Pool(db).QueryRow(ctx, `
			INSERT INTO screend.groups (project_id, state, created_at, closed_at) VALUES ($1, 'applied', $2, $2)
			RETURNING group_id`, projectID, at).Scan(&grp.ID)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range stages {
			v := StageEmbedding(rng, base, s, defect[i])
			w := 1024
			if s >= 2 {
				w = int(1024 * s)
			}
			name := fmt.Sprintf("%s_%s.png", at.Add(time.Duration(i)*time.Minute).Format("20060102_150405"), tokens[s])
			path := filepath.Join(root, opts.Project, name)
			var id int64
			err := sqltest.Pool(db).QueryRow(ctx, `
				INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage, format,
					width, height, state, processed_at)
				VALUES ($1, $2, $3, $3, 1000, $4, $5, 'png', $6, $6, 'embedded', $4)
				RETURNING image_id`, projectID, path, name, at, s, w).Scan(&id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sqltest.Pool(db).Exec(ctx, `INSERT INTO screend.embeddings (image_id, embedder_id, embedding) VALUES ($1, $2, $3)`,
				id, embedderID, pgvector.NewVector(v)); err != nil {
				t.Fatal(err)
			}
			if _, err := sqltest.Pool(db).Exec(ctx, `INSERT INTO screend.group_images (group_id, image_id, position) VALUES ($1, $2, $3)`,
				grp.ID, id, i); err != nil {
				t.Fatal(err)
			}
			grp.ImageIDs = append(grp.ImageIDs, id)
			grp.Files = append(grp.Files, name)
		}
		for i := len(stages) - 1; i >= 0; i-- {
			if !defect[i] {
				grp.Chosen = i
				break
			}
		}
		if base[1] > 0.6 {
			grp.Chosen = -1
		}
		outcome := "reject"
		var chosen *int64
		if grp.Chosen >= 0 {
			outcome = "select"
			chosen = &grp.ImageIDs[grp.Chosen]
			if base[2] > 0 {
				s := float32(0.7 + 0.15*math.Tanh(base[3]))
				grp.Crop = []float32{0.5 - s/2, 0, 0.5 + s/2, s}
				outcome = "crop"
			}
		}
		if _, err := sqltest.Pool(db).Exec(ctx, `
			INSERT INTO screend.decisions (group_id, outcome, chosen_image_id, crop, automatic, decided_by, decided_at)
			VALUES ($1, $2, $3, $4, false, 'tester', now())`, grp.ID, outcome, chosen, grp.Crop); err != nil {
			t.Fatal(err)
		}
		out = append(out, grp)
	}
	return out
}

// StageEmbedding is the unit embedding of one stage file of a synthetic
// picture: the picture's base vector plus noise and a small shift with the
// stage; a defective file (a broken upscale) is pushed along dimension 0.
func StageEmbedding(rng *rand.Rand, base []float64, stage float64, defect bool) []float32 {
	v := make([]float32, len(base))
	var norm float64
	for j := range v {
		x := base[j] + 0.15*rng.NormFloat64() + 0.1*stage
		if j == 0 && defect {
			x += 1.5
		}
		v[j] = float32(x)
		norm += x * x
	}
	for j := range v {
		v[j] /= float32(math.Sqrt(norm))
	}
	return v
}
