package sql

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"screend"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
)

// The decider's queries, in the order it runs them: ClaimClosedGroups,
// LoadClosedGroup, TrainingImageWithin, StoreScore. Scoring itself runs
// between them, outside any transaction.

// ClaimedGroup is a closed group an instance claimed for scoring.
type ClaimedGroup struct {
	ID        int64
	ProjectID int64
	Project   string
}

// ClaimClosedGroups claims for instance up to limit closed groups, oldest
// first, whose images are all processed (images being embedded again after
// an embedder switch are waited for). A group already claimed by instance
// (its score was not stored) or by an instance that is gone is claimed
// again; the claim ends when StoreScore stores the group's score. Its
// commit does not wait for the disk (see recomputable).
func (db *DB) ClaimClosedGroups(ctx context.Context, instance int32, limit int) ([]ClaimedGroup, error) {
	rows, err := db.pool.Query(ctx, `
		UPDATE screend.groups g SET claimed_by = $1
		FROM screend.projects p, (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
		WHERE p.project_id = g.project_id AND g.group_id IN (
			SELECT c.group_id FROM screend.groups c
			WHERE c.state = 'closed'
			  AND (c.claimed_by IS NULL OR c.claimed_by = $1 OR NOT screend.instance_alive(c.claimed_by))
			  AND NOT EXISTS (
				SELECT 1 FROM screend.group_images gi JOIN screend.images i USING (image_id)
				WHERE gi.group_id = c.group_id AND i.state = 'discovered')
			ORDER BY c.group_id
			LIMIT $2
			FOR UPDATE OF c SKIP LOCKED)
		RETURNING g.group_id, g.project_id, p.name`, instance, limit)
	if err != nil {
		return nil, fmt.Errorf("claim closed groups: %w", err)
	}
	groups, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClaimedGroup, error) {
		var g ClaimedGroup
		err := r.Scan(&g.ID, &g.ProjectID, &g.Project)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim closed groups: %w", err)
	}
	// RETURNING has no order of its own.
	slices.SortFunc(groups, func(a, b ClaimedGroup) int { return cmp.Compare(a.ID, b.ID) })
	return groups, nil
}

// GroupImage is an image of a group being scored.
type GroupImage struct {
	ID      int64
	Path    string
	RelPath string
	Stage   float64
	// Width and Height are those of the image's content (of the original
	// for a duplicate); 0 when unknown.
	Width  int
	Height int
	// Embedding is the content's embedding by the running embedder; nil
	// when it has none.
	Embedding []float32
}

// ClosedGroup is what scoring needs of a claimed group.
type ClosedGroup struct {
	ClaimedGroup
	// Images are the group's images in their order.
	Images []GroupImage
	// Conflict is set when an image of the group has the same content as an
	// image of another group already decided: deciding this one could
	// contradict that decision.
	Conflict bool
}

// LoadClosedGroup reads a claimed group's images, with their embeddings by
// embedder, and whether it conflicts with a group already decided, in one
// query.
func (db *DB) LoadClosedGroup(ctx context.Context, g ClaimedGroup, embedderID int32) (ClosedGroup, error) {
	out := ClosedGroup{ClaimedGroup: g}
	rows, err := db.pool.Query(ctx, `
		SELECT i.image_id, screend.fs_path(i.path, i.path_raw), i.rel_path, i.stage, coalesce(o.width, 0), coalesce(o.height, 0), e.embedding,
			EXISTS (
				SELECT 1 FROM screend.group_images cgi
				JOIN screend.images ci USING (image_id)
				JOIN screend.images other ON other.project_id = ci.project_id AND other.sha256 = ci.sha256
					AND other.image_id <> ci.image_id
				JOIN screend.group_images ogi ON ogi.image_id = other.image_id AND ogi.group_id <> cgi.group_id
				JOIN screend.groups og ON og.group_id = ogi.group_id AND og.state IN ('decided', 'applying', 'applied', 'failed')
				WHERE cgi.group_id = $1)
		FROM screend.group_images gi
		JOIN screend.images i USING (image_id)
		JOIN screend.images o ON o.image_id = coalesce(i.duplicate_of, i.image_id)
		LEFT JOIN screend.embeddings e ON e.image_id = o.image_id AND e.embedder_id = $2
		WHERE gi.group_id = $1
		ORDER BY gi.position`, g.ID, embedderID)
	if err != nil {
		return out, fmt.Errorf("read images of group %d: %w", g.ID, err)
	}
	out.Images, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (GroupImage, error) {
		var im GroupImage
		var v *pgvector.Vector
		var path []byte
		err := r.Scan(&im.ID, &path, &im.RelPath, &im.Stage, &im.Width, &im.Height, &v, &out.Conflict)
		im.Path = string(path)
		if v != nil {
			im.Embedding = v.Slice()
		}
		return im, err
	})
	if err != nil {
		return out, fmt.Errorf("read images of group %d: %w", g.ID, err)
	}
	return out, nil
}

// TrainingImageWithin reports whether an image of the training data
// embedded by embedder lies within cosine distance radius of v: an image of
// a group a human decided, or an image matched to an imported decision.
//
// It asks whether one exists rather than for the nearest: the search stops
// at the first image within the radius, which for a group like the training
// data comes early. Among 4,500 training images of 498 dimensions, this
// took 0.3-4 ms when some were within the radius, against 40 ms for the
// nearest, which looks at every one, as this does for a group unlike all.
func (db *DB) TrainingImageWithin(ctx context.Context, embedderID int32, v []float32, radius float64) (bool, error) {
	var found bool
	err := db.pool.QueryRow(ctx, `
		SELECT EXISTS (
			SELECT 1 FROM screend.decisions d
			JOIN screend.group_images gi USING (group_id)
			JOIN screend.images i USING (image_id)
			JOIN screend.embeddings e ON e.image_id = coalesce(i.duplicate_of, i.image_id) AND e.embedder_id = $1
			WHERE NOT d.automatic AND e.embedding <=> $2 <= $3
		) OR EXISTS (
			SELECT 1 FROM screend.imported_decisions idc
			CROSS JOIN LATERAL unnest(idc.candidate_files) AS f(name)
			JOIN screend.projects p ON p.name = idc.project
			JOIN screend.images i ON i.project_id = p.project_id AND i.file_name = f.name
			JOIN screend.embeddings e ON e.image_id = coalesce(i.duplicate_of, i.image_id) AND e.embedder_id = $1
			WHERE e.embedding <=> $2 <= $3)`, embedderID, pgvector.NewVector(v), radius).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("training image within %.3f: %w", radius, err)
	}
	return found, nil
}

// Score is what scoring made of a group.
type Score struct {
	// State is screend.GroupDecided (decided automatically) or screend.GroupFlagged.
	State         screend.GroupState
	Outcome       screend.OutcomeKind // select, crop or reject; "" when nothing is suggested
	ChosenImageID int64               // 0 for reject or no suggestion
	Crop          []float32
	Confidence    float32
	ModelID       int64 // 0 without a model
	Reasons       []screend.Reason
	// Scores are the ranker's scores by image id.
	Scores map[int64]float32
}

// StoreScore records the score of a group claimed by instance and ends the
// claim, in one statement (so one transaction and one round trip): the
// suggestion on the group, the images' scores, and for a decided group
// its decision. It returns false, storing nothing, when the group is no
// longer closed and claimed by instance (a human resolved it, or the claim
// was lost and taken over). Its commit does not wait for the disk (see
// recomputable): a score lost in a crash of PostgreSQL is made again, and
// the journal of a decided group's moves, whose commit waits, makes the
// decision durable before any file moves.
func (db *DB) StoreScore(ctx context.Context, instance int32, groupID int64, s Score) (bool, error) {
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
	ids := make([]int64, 0, len(s.Scores))
	scores := make([]float32, 0, len(s.Scores))
	for id, score := range s.Scores {
		ids, scores = append(ids, id), append(scores, score)
	}
	var stored bool
	err := db.pool.QueryRow(ctx, `
		WITH g AS (
			UPDATE screend.groups SET state = $3, suggested_outcome = $4, suggested_image_id = $5,
				suggested_crop = $6, confidence = $7, model_id = $8, reasons = $9,
				flagged_at = CASE WHEN $3 = 'flagged' THEN now() END, claimed_by = NULL
			FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
			WHERE group_id = $1 AND state = 'closed' AND claimed_by = $2
			RETURNING group_id),
		scores AS (
			UPDATE screend.group_images gi SET score = u.score
			FROM g, unnest($10::bigint[], $11::real[]) AS u(image_id, score)
			WHERE gi.group_id = g.group_id AND gi.image_id = u.image_id),
		decision AS (
			INSERT INTO screend.decisions (group_id, outcome, chosen_image_id, crop, automatic, decided_by,
				suggested_outcome, suggested_image_id, suggested_crop, confidence, model_id, reasons)
			SELECT group_id, $4, $5, $6, true, 'screend', $4, $5, $6, $7, $8, $9
			FROM g WHERE $3 = 'decided')
		SELECT EXISTS (SELECT FROM g)`,
		groupID, instance, s.State, outcome, chosen, s.Crop, confidence, modelID, reasons, ids, scores).Scan(&stored)
	if err != nil {
		return false, fmt.Errorf("store score of group %d: %w", groupID, err)
	}
	return stored, nil
}
