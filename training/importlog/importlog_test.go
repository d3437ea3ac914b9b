package importlog

import (
	"maps"
	"path/filepath"
	"testing"

	"screend"
)

// The real upstream logs, copied from data/upstream. They turned out clean:
// none of the defects the workflow notes warn about (0x0 sizes, placeholder
// crops, column shifts, x1 > x2) occurs in them. The only rejects come from
// select_crop_log.csv, whose directory column names the crop tool's working
// folder ("crop", "crop/hannah", ...) instead of a project.
func TestRealFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		opts     Options
		format   Format
		accepted int
		rejects  map[Part]map[Reason]int
		crops    map[CropStatus]int
		projects map[string]int
		dups     int
	}{
		{
			file: "anomaly_cases.csv", format: FormatAnomaly, accepted: 518,
			crops: map[CropStatus]int{CropNotLogged: 518},
			projects: map[string]int{"tattersail-0918": 187, "1101_hailey": 111, "1100": 71, "1011": 27,
				"agent-1002": 25, "mojo2": 22, "1012": 17, "agent-1001": 15, "agent-1003": 15,
				"jmlimages-random": 12, "Aiko_raw": 6, "mojo1": 5, "1013": 5},
		},
		{
			// Every path is under training data/mojo1_final/; directory says mojo1.
			file: "historical_crop_log.csv", format: FormatCropLabel, accepted: 5149,
			crops: map[CropStatus]int{CropNoCoords: 5149}, projects: map[string]int{"mojo1": 5149},
		},
		{
			// The same files as historical_crop_log.csv plus 7 more.
			file: "mojo1_crop_log.csv", format: FormatCropLabel, accepted: 5156,
			crops: map[CropStatus]int{CropNoCoords: 5156}, projects: map[string]int{"mojo1": 5156},
		},
		{
			// Chosen in mojo1_final, negative in mojo1: one project by the _final rule.
			file: "historical_selection_log.csv", format: FormatSelection, accepted: 23,
			crops: map[CropStatus]int{CropNotLogged: 23}, projects: map[string]int{"mojo1": 23},
		},
		{
			// Identical to historical_selection_log.csv except session_id.
			file: "mojo1_selection_log.csv", format: FormatSelection, accepted: 23,
			crops: map[CropStatus]int{CropNotLogged: 23}, projects: map[string]int{"mojo1": 23},
		},
		{
			// Line 2 (directory mojo1) is the only row naming a project. Lines
			// 3-7194 have directory "crop" (3,218 rows) or "crop/<group>"
			// (3,975 rows), e.g. line 3:
			//   crop/20250705_230713_stage3_enhanced.png
			// and line 288: crop/hannah/... Neither names a project, so they
			// are rejected rather than assigned to one.
			file: "select_crop_log.csv", format: FormatSelectCrop, accepted: 1,
			rejects: map[Part]map[Reason]int{PartRow: {ReasonUnknownProject: 7193}},
			crops:   map[CropStatus]int{CropBox: 1}, projects: map[string]int{"mojo1": 1},
		},
		{
			// With the folders mapped by the caller every row parses: 549
			// full-frame no-ops (7.6%, the doc says 7.7%), 6,645 real crops
			// (the doc says 6,641), and 95 rows re-logging a file already
			// logged (93 names twice or three times: re-crops).
			file: "select_crop_log.csv", format: FormatSelectCrop, accepted: 7194,
			opts:     Options{Projects: map[string]string{"crop": "unnamed", "crop/hannah": "hannah-test"}},
			crops:    map[CropStatus]int{CropBox: 6645, CropFullFrame: 549},
			projects: map[string]int{"mojo1": 1, "hannah-test": 2919, "unnamed": 7194 - 1 - 2919},
			dups:     95,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			res, err := tt.opts.ParseFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != tt.format {
				t.Errorf("format = %s, want %s", res.Format, tt.format)
			}
			s := res.Summary()
			if s.Accepted != tt.accepted || s.Rows != len(res.Decisions)+s.Rejected {
				t.Errorf("summary %v, want accepted=%d", s, tt.accepted)
			}
			want := tt.rejects
			if want == nil {
				want = map[Part]map[Reason]int{}
			}
			if !equalNested(s.ByReason, want) {
				t.Errorf("rejects %v, want %v", s.ByReason, want)
			}
			crops, projects, dups := map[CropStatus]int{}, map[string]int{}, 0
			for _, d := range res.Decisions {
				crops[d.CropStatus]++
				projects[d.Project]++
				if d.DuplicateOf > 0 {
					dups++
				}
				if d.Chosen == "" || len(d.Candidates) == 0 || d.Time.IsZero() {
					t.Errorf("line %d: incomplete decision %+v", d.Line, d)
				}
			}
			if !maps.Equal(crops, tt.crops) {
				t.Errorf("crops %v, want %v", crops, tt.crops)
			}
			if !maps.Equal(projects, tt.projects) {
				t.Errorf("projects %v, want %v", projects, tt.projects)
			}
			if dups != tt.dups {
				t.Errorf("duplicates %d, want %d", dups, tt.dups)
			}
		})
	}
}

func equalNested(a, b map[Part]map[Reason]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !maps.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestRealRows checks single rows of the real files by eye.
func TestRealRows(t *testing.T) {
	t.Parallel()
	opts := Options{Projects: map[string]string{"crop": "unnamed"}}
	sc, err := opts.ParseFile("testdata/select_crop_log.csv")
	if err != nil {
		t.Fatal(err)
	}
	byLine := map[int]Decision{}
	for _, d := range sc.Decisions {
		byLine[d.Line] = d
	}

	// Line 2: the only two-image group and the only normalised crop; the
	// chosen image (index 1) is 2048x2048 and the crop is square, so the
	// aspect ratio is kept.
	d := byLine[2]
	if d.Project != "mojo1" || d.Chosen != "20250708_060530_stage2_upscaled.png" ||
		d.CropStatus != CropBox || *d.Crop != (screend.Box{0, 0.0673828125, 0.54736328125, 0.61474609375}) {
		t.Errorf("line 2: %+v crop %v", d, d.Crop)
	}
	if len(d.Candidates) != 2 || d.Candidates[0].Chosen || !d.Candidates[1].Chosen ||
		d.Candidates[0].Stage != 1 || d.Candidates[1].Width != 2048 || !d.TimeHasZone {
		t.Errorf("line 2 candidates %+v", d.Candidates)
	}
	if n := d.Negatives(); len(n) != 1 || n[0] != "20250708_060416_stage1_generated.png" {
		t.Errorf("line 2 negatives %v", n)
	}

	// Line 3: pixels 0,66,1787,1853 of a 3072x3072 image.
	d = byLine[3]
	if d.CropStatus != CropBox || *d.Crop != (screend.Box{0, 66.0 / 3072, 1787.0 / 3072, 1853.0 / 3072}) {
		t.Errorf("line 3 crop %v", d.Crop)
	}
	// Line 7195 (the last): 0,0,2048,2048 of a 2048x2048 image, a full-frame no-op.
	if d = byLine[7195]; d.CropStatus != CropFullFrame || d.Crop != nil {
		t.Errorf("line 7195: %s %v", d.CropStatus, d.Crop)
	}
	// Lines 6 and 100 log the same file with different crops; the second
	// points back at the first.
	if d = byLine[100]; d.DuplicateOf != 6 {
		t.Errorf("line 100 DuplicateOf = %d, want 6", d.DuplicateOf)
	}

	an, err := ParseFile("testdata/anomaly_cases.csv")
	if err != nil {
		t.Fatal(err)
	}
	// Line 29: chosen and rejected sit in different sub-folders of one
	// project (tara/tara/ and south-asian-late-30s/).
	d = an.Decisions[27]
	if d.Line != 29 || d.Project != "tattersail-0918" || len(d.Candidates) != 2 ||
		d.Candidates[1].Stage != 3 || d.Candidates[0].Stage != 2 {
		t.Errorf("anomaly line 29: %+v", d)
	}

	sel, err := ParseFile("testdata/historical_selection_log.csv")
	if err != nil {
		t.Fatal(err)
	}
	d = sel.Decisions[0]
	if d.Project != "mojo1" || d.TimeHasZone || d.TimeRaw != "20250727_224840" ||
		d.Negatives()[0] != "20250727_224840_stage1.5_face_swapped.png" {
		t.Errorf("selection line 2: %+v", d)
	}
}
