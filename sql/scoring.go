package sql

import (
	"context"
	"fmt"

	"screend"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
)

// GroupImage is an image of a group being scored.
type GroupImage struct {
	ID        int64
	Path      string
	RelPath   string
	Stage     float64
	Width     int
	Height    int
	Embedding []float32
}

// GroupToScore is a closed group with everything scoring needs.
type GroupToScore struct {
	ID        int64
	ProjectID int64
	Project   string
	Images    []GroupImage
	// Conflict is set when an image of the group has the same content as an
	// image of another group already decided: deciding this one could
	// contradict that decision.
	Conflict bool
}

// Scored is what scoring made of a group.
type Scored struct {
	// State is screend.GroupDecided (decided automatically) or screend.GroupFlagged.
	State         screend.GroupState
	Outcome       screend.OutcomeKind // select, crop or reject; "" when nothing is suggested
	ChosenImageID int64               // 0 for reject or no suggestion
	Crop          []float32
	Confidence    float32
	ModelID       int64 // 0 without a model
	Reasons       []screend.Reason
	Scores        map[int64]float32
}

// ScoreClosedGroups scores up to limit closed groups, each in a transaction
// of its own that locks it (other instances skip it), with embeddings of
// embedder. score returns the suggestion; a decided group also gets its
// decision row. It returns the groups scored.
func (db *DB) ScoreClosedGroups(ctx context.Context, embedderID int32, limit int, score func(GroupToScore) Scored) ([]Scored, error) {
	var out []Scored
	for range limit {
		var s Scored
		found := false
		err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			var g GroupToScore
			err := tx.QueryRow(ctx, `
				SELECT g.group_id, g.project_id, p.name, EXISTS (
					SELECT 1 FROM screend.group_images gi
					JOIN screend.images i USING (image_id)
					JOIN screend.images other ON other.project_id = i.project_id AND other.sha256 = i.sha256
						AND other.image_id <> i.image_id
					JOIN screend.group_images ogi ON ogi.image_id = other.image_id AND ogi.group_id <> gi.group_id
					JOIN screend.groups og ON og.group_id = ogi.group_id AND og.state IN ('decided', 'applying', 'applied', 'failed')
					WHERE gi.group_id = g.group_id)
				FROM screend.groups g JOIN screend.projects p USING (project_id)
				WHERE g.state = 'closed'
				  -- images being embedded again (after an embedder switch) are waited for
				  AND NOT EXISTS (
					SELECT 1 FROM screend.group_images gi JOIN screend.images i USING (image_id)
					WHERE gi.group_id = g.group_id AND i.state = 'discovered')
				ORDER BY g.group_id
				LIMIT 1
				FOR UPDATE OF g SKIP LOCKED`).Scan(&g.ID, &g.ProjectID, &g.Project, &g.Conflict)
			if err == pgx.ErrNoRows {
				return nil
			}
			if err != nil {
				return err
			}
			found = true
			rows, err := tx.Query(ctx, `
				SELECT i.image_id, screend.fs_path(i.path, i.path_raw), i.rel_path, i.stage, coalesce(o.width, 0), coalesce(o.height, 0), e.embedding
				FROM screend.group_images gi
				JOIN screend.images i USING (image_id)
				JOIN screend.images o ON o.image_id = coalesce(i.duplicate_of, i.image_id)
				LEFT JOIN screend.embeddings e ON e.image_id = o.image_id AND e.embedder_id = $2
				WHERE gi.group_id = $1
				ORDER BY gi.position`, g.ID, embedderID)
			if err != nil {
				return err
			}
			g.Images, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (GroupImage, error) {
				var im GroupImage
				var v *pgvector.Vector
				var path []byte
				err := r.Scan(&im.ID, &path, &im.RelPath, &im.Stage, &im.Width, &im.Height, &v)
				im.Path = string(path)
				if v != nil {
					im.Embedding = v.Slice()
				}
				return im, err
			})
			if err != nil {
				return err
			}
			s = score(g)
			return recordScore(ctx, tx, g.ID, s)
		})
		if err != nil {
			return out, fmt.Errorf("score groups: %w", err)
		}
		if !found {
			break
		}
		out = append(out, s)
	}
	return out, nil
}

func recordScore(ctx context.Context, tx pgx.Tx, groupID int64, s Scored) error {
	var modelID, chosen *int64
	if s.ModelID != 0 {
		modelID = &s.ModelID
	}
	if s.ChosenImageID != 0 {
		chosen = &s.ChosenImageID
	}
	var outcome *screend.OutcomeKind
	var confidence *float32
	if s.Outcome != "" {
		outcome, confidence = &s.Outcome, &s.Confidence
	}
	reasons := s.Reasons
	if reasons == nil {
		reasons = []screend.Reason{}
	}
	_, err := tx.Exec(ctx, `
		UPDATE screend.groups SET state = $2, suggested_outcome = $3, suggested_image_id = $4,
			suggested_crop = $5, confidence = $6, model_id = $7, reasons = $8,
			flagged_at = CASE WHEN $2 = 'flagged' THEN now() END
		WHERE group_id = $1`, groupID, s.State, outcome, chosen, s.Crop, confidence, modelID, reasons)
	if err != nil {
		return err
	}
	for id, score := range s.Scores {
		if _, err := tx.Exec(ctx, `UPDATE screend.group_images SET score = $3 WHERE group_id = $1 AND image_id = $2`, groupID, id, score); err != nil {
			return err
		}
	}
	if s.State == screend.GroupDecided {
		_, err = tx.Exec(ctx, `
			INSERT INTO screend.decisions (group_id, outcome, chosen_image_id, crop, automatic, decided_by,
				suggested_outcome, suggested_image_id, suggested_crop, confidence, model_id, reasons)
			VALUES ($1, $2, $3, $4, true, 'screend', $2, $3, $4, $5, $6, $7)`,
			groupID, s.Outcome, chosen, s.Crop, s.Confidence, modelID, reasons)
	}
	return err
}

// NearestTrainingDistance returns the cosine distance from v to the nearest
// image of the training data embedded by embedder: the images of groups a
// human decided and the images matched to imported decisions. It reports
// false when there is no such image.
func (db *DB) NearestTrainingDistance(ctx context.Context, embedderID int32, v []float32) (float64, bool, error) {
	var d *float64
	err := db.pool.QueryRow(ctx, `
		WITH training AS (
			SELECT coalesce(i.duplicate_of, i.image_id) AS image_id
			FROM screend.decisions d
			JOIN screend.group_images gi USING (group_id)
			JOIN screend.images i USING (image_id)
			WHERE NOT d.automatic
			UNION
			SELECT coalesce(i.duplicate_of, i.image_id)
			FROM screend.imported_decisions idc
			CROSS JOIN LATERAL unnest(idc.candidate_files) AS f(name)
			JOIN screend.projects p ON p.name = idc.project
			JOIN screend.images i ON i.project_id = p.project_id AND i.file_name = f.name)
		SELECT min(e.embedding <=> $2)
		FROM screend.embeddings e JOIN training USING (image_id)
		WHERE e.embedder_id = $1`, embedderID, pgvector.NewVector(v)).Scan(&d)
	if err != nil {
		return 0, false, fmt.Errorf("nearest training image: %w", err)
	}
	if d == nil {
		return 0, false, nil
	}
	return *d, true, nil
}
