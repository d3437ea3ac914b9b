package sql

import (
	"context"
	"fmt"
	"time"

	"screend"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
)

// Where a training example comes from.
const (
	ExampleFromReview = "review" // a human resolved a flagged group (screend.decisions)
	ExampleFromImport = "import" // a row of an imported log (screend.imported_decisions)
)

// Crop knowledge of an example, from the most to the least known.
const (
	CropKnownNone    = "none"    // kept as it is: the human did not crop
	CropKnownBox     = "box"     // cropped to Crop
	CropKnownCropped = "cropped" // cropped, box unknown (manual_crop, crop logs without coordinates, a bad logged box)
	CropKnownUnknown = "unknown" // not recorded whether it was cropped (selection and anomaly logs)
)

// ExampleImage is an image of a training example with its embedding (that
// of the original when the file is a duplicate).
type ExampleImage struct {
	ImageID   int64 // the original's id (duplicates resolved)
	FileName  string
	Stage     float64
	Width     int
	Height    int
	Embedding []float32
}

// ExampleRow is one human decision about a group whose images are all
// embedded with the embedder asked for.
type ExampleRow struct {
	From      string // ExampleFromReview or ExampleFromImport
	ID        int64  // decision_id or imported_id
	Ref       string // "group 12" or "select_crop_log.csv:40", for messages
	ProjectID int64
	Project   string
	Time      time.Time
	Images    []ExampleImage // in group order
	Chosen    int            // index into Images, -1 when the group was rejected
	CropKnown string         // one of the CropKnown* values; meaningless for a reject
	Crop      []float32      // normalised x1,y1,x2,y2 when CropKnown is "box"
}

// ExampleSkip is a human decision that could not become an example.
type ExampleSkip struct {
	From   string
	ID     int64
	Ref    string
	Reason string // not_embedded, not_on_disk, ambiguous_file, ambiguous_project
}

// EmbedderByName returns the id and dimension of the embedder registered as
// name; ok is false when it is not registered (nothing was embedded with it).
func (db *DB) EmbedderByName(ctx context.Context, name string) (id int32, dim int, ok bool, err error) {
	err = db.pool.QueryRow(ctx, `SELECT embedder_id, dim FROM screend.embedders WHERE name = $1`, name).Scan(&id, &dim)
	if err == pgx.ErrNoRows {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("look up embedder %s: %w", name, err)
	}
	return id, dim, true, nil
}

// ReviewExamples returns every human decision of screend.decisions
// (automatic = false) with its group's images and their embeddings of
// embedder; groups with an image not embedded are skipped.
func (db *DB) ReviewExamples(ctx context.Context, embedderID int32) ([]ExampleRow, []ExampleSkip, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT d.decision_id, d.group_id, g.project_id, p.name, d.decided_at, d.outcome,
			coalesce(d.chosen_image_id, 0), d.crop,
			i.image_id, o.image_id, i.file_name, i.stage, coalesce(o.width, 0), coalesce(o.height, 0), e.embedding
		FROM screend.decisions d
		JOIN screend.groups g USING (group_id)
		JOIN screend.projects p ON p.project_id = g.project_id
		JOIN screend.group_images gi ON gi.group_id = d.group_id
		JOIN screend.images i ON i.image_id = gi.image_id
		JOIN screend.images o ON o.image_id = coalesce(i.duplicate_of, i.image_id)
		LEFT JOIN screend.embeddings e ON e.image_id = o.image_id AND e.embedder_id = $1
		WHERE NOT d.automatic
		ORDER BY d.decision_id, gi.position`, embedderID)
	if err != nil {
		return nil, nil, fmt.Errorf("read human decisions: %w", err)
	}
	defer rows.Close()
	var out []ExampleRow
	var skips []ExampleSkip
	var cur *ExampleRow
	var curChosen int64
	missing := false
	flush := func() {
		if cur == nil {
			return
		}
		switch {
		case missing:
			skips = append(skips, ExampleSkip{From: cur.From, ID: cur.ID, Ref: cur.Ref, Reason: "not_embedded"})
		case curChosen != 0 && cur.Chosen < 0:
			// the chosen image is not in its group: cannot happen through
			// resolve_group, but never train on it
			skips = append(skips, ExampleSkip{From: cur.From, ID: cur.ID, Ref: cur.Ref, Reason: "chosen_not_in_group"})
		default:
			out = append(out, *cur)
		}
		cur, missing = nil, false
	}
	for rows.Next() {
		var (
			decisionID, groupID, projectID, chosenID, imageID, origID int64
			project, outcome, fileName                                string
			decidedAt                                                 time.Time
			crop                                                      []float32
			stage                                                     float64
			width, height                                             int
			vec                                                       *pgvector.Vector
		)
		if err := rows.Scan(&decisionID, &groupID, &projectID, &project, &decidedAt, &outcome, &chosenID, &crop,
			&imageID, &origID, &fileName, &stage, &width, &height, &vec); err != nil {
			return nil, nil, fmt.Errorf("read human decisions: %w", err)
		}
		if cur == nil || cur.ID != decisionID {
			flush()
			cur = &ExampleRow{From: ExampleFromReview, ID: decisionID, Ref: fmt.Sprintf("group %d", groupID),
				ProjectID: projectID, Project: project, Time: decidedAt, Chosen: -1}
			curChosen = chosenID
			switch screend.OutcomeKind(outcome) {
			case screend.OutcomeSelect:
				cur.CropKnown = CropKnownNone
			case screend.OutcomeCrop:
				cur.CropKnown, cur.Crop = CropKnownBox, crop
			case screend.OutcomeManualCrop:
				cur.CropKnown = CropKnownCropped
			case screend.OutcomeReject:
				cur.CropKnown = CropKnownNone
			}
		}
		if imageID == chosenID {
			cur.Chosen = len(cur.Images)
		}
		if vec == nil {
			missing = true
			continue
		}
		cur.Images = append(cur.Images, ExampleImage{ImageID: origID, FileName: fileName, Stage: stage,
			Width: width, Height: height, Embedding: vec.Slice()})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read human decisions: %w", err)
	}
	flush()
	return out, skips, nil
}

// ImportedExamples returns the imported decisions whose candidates are all
// on disk and embedded with embedder: every candidate file name must name
// exactly one image (duplicates of one content count once) of one project
// of the decision's project name, in the inbox or, for a name no inbox
// file has, among the history images of the project (ImageID is then
// minus the history_id). Others are skipped with the reason.
func (db *DB) ImportedExamples(ctx context.Context, embedderID int32) ([]ExampleRow, []ExampleSkip, error) {
	type match struct {
		projectID int64
		img       ExampleImage
		embedded  bool
	}
	// matches[project name][file name] lists the images of that name.
	matches := map[string]map[string][]match{}
	rows, err := db.pool.Query(ctx, `
		WITH names AS (
			SELECT DISTINCT d.project, c.name
			FROM screend.imported_decisions d, unnest(d.candidate_files) AS c(name))
		SELECT names.project, i.project_id, i.file_name, o.image_id, i.stage,
			coalesce(o.width, 0), coalesce(o.height, 0), e.embedding
		FROM names
		JOIN screend.projects p ON p.name = names.project
		JOIN screend.images i ON i.project_id = p.project_id AND i.file_name = names.name
		JOIN screend.images o ON o.image_id = coalesce(i.duplicate_of, i.image_id)
		LEFT JOIN screend.embeddings e ON e.image_id = o.image_id AND e.embedder_id = $1
		WHERE i.state <> 'quarantined'
		UNION ALL
		-- historical files embedded where they lie, when no inbox file has the name
		SELECT names.project, coalesce(p.project_id, 0), h.file_name, -h.history_id, h.stage,
			coalesce(h.width, 0), coalesce(h.height, 0), h.embedding
		FROM names
		JOIN screend.history_images h ON h.project = names.project AND h.file_name = names.name
			AND h.embedder_id = $1 AND h.embedding IS NOT NULL
		LEFT JOIN screend.projects p ON p.name = names.project
		WHERE NOT EXISTS (
			SELECT 1 FROM screend.images i
			WHERE i.project_id = p.project_id AND i.file_name = names.name AND i.state <> 'quarantined')`, embedderID)
	if err != nil {
		return nil, nil, fmt.Errorf("match imported decisions: %w", err)
	}
	for rows.Next() {
		var project string
		var m match
		var vec *pgvector.Vector
		if err := rows.Scan(&project, &m.projectID, &m.img.FileName, &m.img.ImageID, &m.img.Stage,
			&m.img.Width, &m.img.Height, &vec); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("match imported decisions: %w", err)
		}
		if vec != nil {
			m.embedded, m.img.Embedding = true, vec.Slice()
		}
		byName := matches[project]
		if byName == nil {
			byName = map[string][]match{}
			matches[project] = byName
		}
		byName[m.img.FileName] = append(byName[m.img.FileName], m)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("match imported decisions: %w", err)
	}

	rows, err = db.pool.Query(ctx, `
		SELECT imported_id, source, line, project, coalesce(decided_at, imported_at), chosen_file,
			candidate_files, coalesce(crop_status, CASE WHEN crop IS NULL THEN 'not_logged' ELSE 'box' END), crop
		FROM screend.imported_decisions
		ORDER BY imported_id`)
	if err != nil {
		return nil, nil, fmt.Errorf("read imported decisions: %w", err)
	}
	defer rows.Close()
	var out []ExampleRow
	var skips []ExampleSkip
	for rows.Next() {
		var (
			id                                  int64
			source, project, chosen, cropStatus string
			line                                int
			at                                  time.Time
			candidates                          []string
			crop                                []float32
			chosenNull                          *string
		)
		if err := rows.Scan(&id, &source, &line, &project, &at, &chosenNull, &candidates, &cropStatus, &crop); err != nil {
			return nil, nil, fmt.Errorf("read imported decisions: %w", err)
		}
		if chosenNull != nil {
			chosen = *chosenNull
		}
		ref := fmt.Sprintf("%s:%d", source, line)
		skip := func(reason string) {
			skips = append(skips, ExampleSkip{From: ExampleFromImport, ID: id, Ref: ref, Reason: reason})
		}
		// per project id: the images found, in candidate order
		found := map[int64][]match{}
		ambiguous := false
		for _, name := range candidates {
			perProject := map[int64]match{}
			for _, m := range matches[project][name] {
				if prev, ok := perProject[m.projectID]; ok && prev.img.ImageID != m.img.ImageID {
					ambiguous = true
				}
				perProject[m.projectID] = m
			}
			for pid, m := range perProject {
				found[pid] = append(found[pid], m)
			}
		}
		var complete []int64
		for pid, ms := range found {
			if len(ms) == len(candidates) {
				complete = append(complete, pid)
			}
		}
		switch {
		case ambiguous:
			skip("ambiguous_file")
			continue
		case len(complete) == 0:
			skip("not_on_disk")
			continue
		case len(complete) > 1:
			skip("ambiguous_project")
			continue
		}
		ex := ExampleRow{From: ExampleFromImport, ID: id, Ref: ref, ProjectID: complete[0], Project: project,
			Time: at, Chosen: -1}
		embedded := true
		for i, m := range found[complete[0]] {
			if !m.embedded {
				embedded = false
			}
			if candidates[i] == chosen {
				ex.Chosen = i
			}
			ex.Images = append(ex.Images, m.img)
		}
		if !embedded {
			skip("not_embedded")
			continue
		}
		if ex.Chosen < 0 {
			skip("chosen_not_candidate")
			continue
		}
		switch cropStatus {
		case "box":
			ex.CropKnown, ex.Crop = CropKnownBox, crop
		case "full_frame":
			ex.CropKnown = CropKnownNone
		case "no_coords", "dropped":
			ex.CropKnown = CropKnownCropped
		default:
			ex.CropKnown = CropKnownUnknown
		}
		out = append(out, ex)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read imported decisions: %w", err)
	}
	return out, skips, nil
}

// HumanDecisionsSince counts the human decisions that arrived after t:
// review resolutions decided and log rows imported (first imported) since.
func (db *DB) HumanDecisionsSince(ctx context.Context, t time.Time) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM screend.decisions WHERE NOT automatic AND decided_at > $1)
		     + (SELECT count(*) FROM screend.imported_decisions WHERE imported_at > $1)`, t).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count new human decisions: %w", err)
	}
	return n, nil
}
