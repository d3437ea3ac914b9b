package training

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"screend"

	"screend/scoring/model"
	"screend/sql"
)

// LoadSummary says which human decisions became examples and why the others
// did not.
type LoadSummary struct {
	// Review and Imported count the examples by source.
	Review   int `json:"review"`
	Imported int `json:"imported"`
	// Groups counts the distinct group keys (decisions sharing an image
	// count as one group, see Examples).
	Groups int `json:"groups"`
	// CropUnknown counts the examples kept without a known crop (see
	// Examples).
	CropUnknown int `json:"crop_unknown"`
	// Skipped counts the decisions left out, by reason: not_embedded,
	// not_on_disk, ambiguous_file, ambiguous_project, chosen_not_in_group,
	// chosen_not_candidate (from the database) and superseded (another
	// decision about exactly the same images was kept).
	Skipped map[string]int `json:"skipped"`
}

// String renders the summary on one line.
func (s LoadSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d examples (%d from review, %d imported) in %d groups, %d with the crop unknown", s.Review+s.Imported, s.Review, s.Imported, s.Groups, s.CropUnknown)
	var keys []string
	for k := range s.Skipped {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteString("; skipped:")
		}
		fmt.Fprintf(&b, " %s=%d", k, s.Skipped[k])
	}
	return b.String()
}

// LoadExamples reads every human decision whose images are embedded with
// the embedder embedderID (review resolutions and imported log rows) and
// turns them into examples (see Examples).
func LoadExamples(ctx context.Context, db *sql.DB, embedderID int32) ([]Example, LoadSummary, error) {
	review, skips, err := db.ReviewExamples(ctx, embedderID)
	if err != nil {
		return nil, LoadSummary{}, err
	}
	imported, iskips, err := db.ImportedExamples(ctx, embedderID)
	if err != nil {
		return nil, LoadSummary{}, err
	}
	ex, sum := Examples(append(review, imported...), append(skips, iskips...))
	return ex, sum, nil
}

// Examples turns database rows into training examples.
//
//   - Projects never mix: a row's images all belong to one project (the
//     database query guarantees it), and the project's name is the
//     example's Project.
//   - Two rows about exactly the same images are one decision: the review
//     resolution wins over an imported row, then the newer, then the later
//     row; the others count as superseded.
//   - Rows that share an image (a two-image crop-tool row and the
//     three-image group it came from) get the same GroupKey, so they land
//     on the same side of the split; any other two rows get different keys.
//   - Rows whose crop is unknown (manual_crop resolutions, the crop logs
//     without coordinates, dropped boxes, and the selection and anomaly
//     logs, which do not record crops) become examples with CropUnknown
//     set: the ranker and the reject model learn from them, the crop model
//     does not, rather than being taught "not cropped".
func Examples(rows []sql.ExampleRow, skips []sql.ExampleSkip) ([]Example, LoadSummary) {
	sum := LoadSummary{Skipped: map[string]int{}}
	for _, s := range skips {
		sum.Skipped[s.Reason]++
	}
	// keep one row per exact image set
	setKey := func(r *sql.ExampleRow) string {
		ids := make([]int64, len(r.Images))
		for i, im := range r.Images {
			ids[i] = im.ImageID
		}
		slices.Sort(ids)
		return fmt.Sprint(r.ProjectID, ids)
	}
	better := func(a, b *sql.ExampleRow) bool { // a preferred over b
		if (a.From == sql.ExampleFromReview) != (b.From == sql.ExampleFromReview) {
			return a.From == sql.ExampleFromReview
		}
		if !a.Time.Equal(b.Time) {
			return a.Time.After(b.Time)
		}
		return a.ID > b.ID
	}
	var usable []*sql.ExampleRow
	for i := range rows {
		r := &rows[i]
		usable = append(usable, r)
	}
	best := map[string]*sql.ExampleRow{}
	for _, r := range usable {
		k := setKey(r)
		if cur, ok := best[k]; !ok || better(r, cur) {
			best[k] = r
		}
	}
	sum.Skipped["superseded"] = len(usable) - len(best)
	if sum.Skipped["superseded"] == 0 {
		delete(sum.Skipped, "superseded")
	}
	var kept []*sql.ExampleRow
	for _, r := range usable {
		if best[setKey(r)] == r {
			kept = append(kept, r)
		}
	}

	// group keys: connected components of rows sharing an image
	parent := map[int64]int64{}
	var find func(int64) int64
	find = func(x int64) int64 {
		p, ok := parent[x]
		if !ok || p == x {
			parent[x] = x
			return x
		}
		root := find(p)
		parent[x] = root
		return root
	}
	union := func(a, b int64) {
		ra, rb := find(a), find(b)
		if ra != rb {
			if ra < rb {
				parent[rb] = ra
			} else {
				parent[ra] = rb
			}
		}
	}
	for _, r := range kept {
		for _, im := range r.Images[1:] {
			union(r.Images[0].ImageID, im.ImageID)
		}
	}
	out := make([]Example, 0, len(kept))
	groups := map[string]bool{}
	for _, r := range kept {
		ex := Example{
			Project:  r.Project,
			GroupKey: fmt.Sprintf("p%d/i%d", r.ProjectID, find(r.Images[0].ImageID)),
			Time:     r.Time,
			Chosen:   r.Chosen,
		}
		for _, im := range r.Images {
			ex.Images = append(ex.Images, model.Image{Embedding: im.Embedding, Stage: im.Stage, Width: im.Width, Height: im.Height})
		}
		switch {
		case r.Chosen < 0 || r.CropKnown == sql.CropKnownNone:
		case r.CropKnown == sql.CropKnownBox && len(r.Crop) == 4:
			ex.Crop, _ = screend.BoxFromFloat32s(r.Crop) // four numbers: no error
		default: // cropped without a box, or not recorded
			ex.CropUnknown = true
			sum.CropUnknown++
		}
		if r.From == sql.ExampleFromReview {
			sum.Review++
		} else {
			sum.Imported++
		}
		groups[ex.Project+"\x00"+ex.GroupKey] = true
		out = append(out, ex)
	}
	sum.Groups = len(groups)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Project != out[j].Project {
			return out[i].Project < out[j].Project
		}
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].GroupKey < out[j].GroupKey
	})
	return out, sum
}
