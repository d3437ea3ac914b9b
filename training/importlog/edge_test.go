package importlog

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"screend"
)

const selectCropHeader = "session_id,set_id,directory,image_count,chosen_index,chosen_path,crop_x1,crop_y1,crop_x2,crop_y2,timestamp," +
	"image_0_path,image_0_stage,width_0,height_0,image_1_path,image_1_stage,width_1,height_1\n"

// scRow builds a select_crop_log row with one 832x1216 image unless the
// fields are overridden.
func scRow(crop, size string) string {
	return "s,g,mojo1,1,0,mojo1/a_stage1_generated.png," + crop + ",2025-10-05T01:24:18Z," +
		"mojo1/a_stage1_generated.png,stage1_generated," + size + ",,,,"
}

func parseOne(t *testing.T, csvText string) Result {
	t.Helper()
	res, err := Parse(strings.NewReader(csvText), "t.csv")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if res.Rows != 1 {
		t.Fatalf("rows = %d, want 1", res.Rows)
	}
	return res
}

func TestSelectCropEdges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		row    string
		part   Part // "" when nothing is rejected
		reason Reason
		status CropStatus
		box    *screend.Box
	}{
		{name: "pixels", row: scRow("0,0,416,608", "832,1216"), status: CropBox, box: &screend.Box{0, 0, 0.5, 0.5}},
		{name: "normalised", row: scRow("0.25,0,0.75,0.5", "832,1216"), status: CropBox, box: &screend.Box{0.25, 0, 0.75, 0.5}},
		{name: "normalised needs no size", row: scRow("0.25,0,0.75,0.5", "0,0"), status: CropBox, box: &screend.Box{0.25, 0, 0.75, 0.5}},
		{name: "full frame", row: scRow("0,0,832,1216", "832,1216"), status: CropFullFrame},
		{name: "almost full frame is a crop", row: scRow("0,0,830,1213", "832,1216"), status: CropBox,
			box: &screend.Box{0, 0, 830.0 / 832, 1213.0 / 1216}},
		{name: "placeholder", row: scRow("0,0,1,1", "832,1216"), part: PartCrop, reason: ReasonPlaceholderCrop, status: CropDropped},
		{name: "placeholder with decimals", row: scRow("0.0,0.0,1.0,1.0", "832,1216"), part: PartCrop, reason: ReasonPlaceholderCrop, status: CropDropped},
		{name: "x1 > x2", row: scRow("500,0,100,600", "832,1216"), part: PartCrop, reason: ReasonInvertedBox, status: CropDropped},
		{name: "y1 > y2", row: scRow("0,600,100,10", "832,1216"), part: PartCrop, reason: ReasonInvertedBox, status: CropDropped},
		{name: "empty box", row: scRow("10,10,10,600", "832,1216"), part: PartCrop, reason: ReasonEmptyBox, status: CropDropped},
		{name: "0x0 pixel crop", row: scRow("0,0,416,608", "0,0"), part: PartCrop, reason: ReasonZeroDimensions, status: CropDropped},
		{name: "unknown size", row: scRow("0,0,416,608", ","), part: PartCrop, reason: ReasonZeroDimensions, status: CropDropped},
		{name: "outside", row: scRow("0,0,900,608", "832,1216"), part: PartCrop, reason: ReasonBoxOutside, status: CropDropped},
		{name: "negative", row: scRow("-5,0,400,608", "832,1216"), part: PartCrop, reason: ReasonBoxOutside, status: CropDropped},
		{name: "no crop", row: scRow(",,,", "832,1216"), part: PartCrop, reason: ReasonMissingCrop, status: CropDropped},
		{name: "partial crop", row: scRow("0,,10,10", "832,1216"), part: PartRow, reason: ReasonBadNumber},
		{name: "NaN", row: scRow("NaN,0,10,10", "832,1216"), part: PartRow, reason: ReasonBadNumber},
		{name: "word in number", row: scRow("abc,0,10,10", "832,1216"), part: PartRow, reason: ReasonBadNumber},
		{name: "fractional size", row: scRow("0,0,10,10", "832.5,1216"), part: PartRow, reason: ReasonBadNumber},
		{name: "negative size", row: scRow("0,0,10,10", "-832,1216"), part: PartRow, reason: ReasonBadNumber},
		{
			// A path one column to the left: chosen_path landed in crop_x1.
			name: "column shift path in number",
			row:  "s,g,mojo1,1,0,0,mojo1/a_stage1_generated.png,0,10,10,2025-10-05T01:24:18Z,mojo1/a_stage1_generated.png,stage1_generated,832,1216,,,,",
			part: PartRow, reason: ReasonColumnShift,
		},
		{
			name: "column shift stage in width",
			row:  "s,g,mojo1,1,0,mojo1/a_stage1_generated.png,0,0,10,10,2025-10-05T01:24:18Z,mojo1/a_stage1_generated.png,832,stage1_generated,1216,,,,",
			part: PartRow, reason: ReasonColumnShift,
		},
		{
			name: "column shift timestamp in path",
			row:  "s,g,mojo1,1,0,2025-10-05T01:24:18Z,0,0,10,10,2025-10-05T01:24:18Z,mojo1/a_stage1_generated.png,stage1_generated,832,1216,,,,",
			part: PartRow, reason: ReasonColumnShift,
		},
		{
			name: "size without path",
			row:  "s,g,mojo1,1,0,mojo1/a_stage1_generated.png,0,0,10,10,2025-10-05T01:24:18Z,mojo1/a_stage1_generated.png,stage1_generated,832,1216,,,832,1216",
			part: PartRow, reason: ReasonColumnShift,
		},
		{name: "too few fields", row: "s,g,mojo1,1,0,mojo1/a.png,0,0,10,10", part: PartRow, reason: ReasonFieldCount},
		{name: "unquoted comma in path", row: strings.Replace(scRow("0,0,10,10", "832,1216"), "a_stage1", "a,b_stage1", 1),
			part: PartRow, reason: ReasonFieldCount},
		{
			name: "chosen not the indexed image",
			row:  "s,g,mojo1,1,0,mojo1/b.png,0,0,10,10,2025-10-05T01:24:18Z,mojo1/a_stage1_generated.png,stage1_generated,832,1216,,,,",
			part: PartRow, reason: ReasonChosenNotCandidate,
		},
		{
			name: "empty chosen",
			row:  "s,g,mojo1,1,0,,0,0,10,10,2025-10-05T01:24:18Z,mojo1/a_stage1_generated.png,stage1_generated,832,1216,,,,",
			part: PartRow, reason: ReasonEmptyChosen,
		},
		{
			name: "index -1 is not a group rejection",
			row:  "s,g,mojo1,1,-1,mojo1/a_stage1_generated.png,0,0,10,10,2025-10-05T01:24:18Z,mojo1/a_stage1_generated.png,stage1_generated,832,1216,,,,",
			part: PartRow, reason: ReasonBadIndex,
		},
		{
			name: "count mismatch",
			row:  "s,g,mojo1,2,0,mojo1/a_stage1_generated.png,0,0,10,10,2025-10-05T01:24:18Z,mojo1/a_stage1_generated.png,stage1_generated,832,1216,,,,",
			part: PartRow, reason: ReasonBadCount,
		},
		{
			name: "stage column disagrees",
			row:  "s,g,mojo1,1,0,mojo1/a_stage1_generated.png,0,0,10,10,2025-10-05T01:24:18Z,mojo1/a_stage1_generated.png,stage2_upscaled,832,1216,,,,",
			part: PartRow, reason: ReasonStageMismatch,
		},
		{
			name: "working folder only",
			row:  "s,g,crop,1,0,crop/a_stage1_generated.png,0,0,10,10,2025-10-05T01:24:18Z,crop/a_stage1_generated.png,stage1_generated,832,1216,,,,",
			part: PartRow, reason: ReasonUnknownProject,
		},
		{
			name: "directory and path disagree",
			row:  "s,g,mojo1,1,0,mojo2/a_stage1_generated.png,0,0,10,10,2025-10-05T01:24:18Z,mojo2/a_stage1_generated.png,stage1_generated,832,1216,,,,",
			part: PartRow, reason: ReasonProjectMismatch,
		},
		{name: "bad timestamp", row: strings.Replace(scRow("0,0,10,10", "832,1216"), "2025-10-05T01:24:18Z", "yesterday", 1),
			part: PartRow, reason: ReasonBadTimestamp},
		{name: "bad quoting", row: strings.Replace(scRow("0,0,10,10", "832,1216"), "s,g", `s,"g"x`, 1),
			part: PartRow, reason: ReasonCSVSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := parseOne(t, selectCropHeader+tt.row+"\n")
			if tt.part == "" {
				if len(res.Rejects) != 0 {
					t.Fatalf("rejects %v", res.Rejects)
				}
			} else {
				if len(res.Rejects) != 1 || res.Rejects[0].Part != tt.part || res.Rejects[0].Reason != tt.reason {
					t.Fatalf("rejects %v, want %s %s", res.Rejects, tt.part, tt.reason)
				}
				if rj := res.Rejects[0]; rj.Line != 2 || rj.File != "t.csv" || rj.Raw != tt.row {
					t.Errorf("reject position/raw: %+v", rj)
				}
			}
			if tt.part == PartRow {
				if len(res.Decisions) != 0 {
					t.Fatalf("decision kept for a rejected row: %+v", res.Decisions)
				}
				return
			}
			if len(res.Decisions) != 1 {
				t.Fatalf("decisions = %d", len(res.Decisions))
			}
			d := res.Decisions[0]
			if d.CropStatus != tt.status {
				t.Errorf("crop status %s, want %s", d.CropStatus, tt.status)
			}
			if (d.Crop == nil) != (tt.box == nil) || (d.Crop != nil && *d.Crop != *tt.box) {
				t.Errorf("crop %v, want %v", d.Crop, tt.box)
			}
		})
	}
}

func TestSelectionAndAnomalyEdges(t *testing.T) {
	t.Parallel()
	const sel = "session_id,set_id,chosen_path,neg_paths,timestamp\n"
	const anom = "session_id,set_id,project,chosen_stage,max_rejected_stage,chosen_path,rejected_paths,timestamp\n"
	tests := []struct {
		name    string
		csv     string
		reason  Reason // "" when accepted
		project string
		names   []string // candidate names, chosen first
	}{
		{
			name:    "json list",
			csv:     sel + `s,g,PROJECT_ROOT/training data/p1/a.png,"[""PROJECT_ROOT/training data/p1/b.png"", ""training data/p1/sub/c.png""]",20250727_224840` + "\n",
			project: "p1", names: []string{"a.png", "b.png", "c.png"},
		},
		{
			name:    "python list with quotes, escapes and commas",
			csv:     sel + `s,g,p1/a.png,"['p1/it\'s, b.png', ""p1/say \""hi\"".png"", 'p1/back\\slash.png', 'p1/caf\xe9.png',]",2025-07-09T15:56:30+00:00` + "\n",
			project: "p1", names: []string{"a.png", "it's, b.png", `say "hi".png`, `back\slash.png`, "café.png"},
		},
		{
			name:    "path forms match by name",
			csv:     sel + `s,g,/Users/x/training data/p1/a.png,"['PROJECT_ROOT/p1/b.png', 'p1/__selected/c.png', 'PROJECT_ROOT/training data/p1_final/_grp/d.png']",2025-10-04 21:23:51` + "\n",
			project: "p1", names: []string{"a.png", "b.png", "c.png", "d.png"},
		},
		{
			name:    "duplicate negative kept once",
			csv:     sel + `s,g,p1/a.png,"['p1/b.png', '/abs/elsewhere/b.png']",20250727_224840` + "\n",
			project: "p1", names: []string{"a.png", "b.png"}, reason: ReasonDuplicateCandidate,
		},
		{name: "empty negatives accepted", csv: sel + "s,g,p1/a.png,[],20250727_224840\n", project: "p1", names: []string{"a.png"}},
		{name: "unparsable list", csv: sel + `s,g,p1/a.png,"['p1/b.png'",20250727_224840` + "\n", reason: ReasonBadList},
		{name: "empty list field", csv: sel + "s,g,p1/a.png,,20250727_224840\n", reason: ReasonBadList},
		{name: "path where list is due", csv: sel + "s,g,p1/a.png,p1/b.png,20250727_224840\n", reason: ReasonColumnShift},
		{name: "chosen among negatives", csv: sel + `s,g,p1/a.png,"['p2x/../p1/a.png']",20250727_224840` + "\n", reason: ReasonChosenAlsoNegative},
		{name: "projects mix", csv: sel + `s,g,p1/a.png,"['p2/b.png']",20250727_224840` + "\n", reason: ReasonProjectMismatch},
		{name: "bare names", csv: sel + `s,g,a.png,"['b.png']",20250727_224840` + "\n", reason: ReasonUnknownProject},
		{name: "empty chosen", csv: sel + `s,g,,"['p1/b.png']",20250727_224840` + "\n", reason: ReasonEmptyChosen},
		{
			name:    "anomaly",
			csv:     anom + "s,g,p1,1,2,PROJECT_ROOT/p1/x_stage1_generated.png,\"['PROJECT_ROOT/p1/x_stage1.5_face_swapped.png', 'PROJECT_ROOT/p1/x_stage2_upscaled.png']\",2025-10-05T03:25:40.984589Z\n",
			project: "p1", names: []string{"x_stage1_generated.png", "x_stage1.5_face_swapped.png", "x_stage2_upscaled.png"},
		},
		{
			name:   "anomaly max stage wrong",
			csv:    anom + "s,g,p1,1,3,PROJECT_ROOT/p1/x_stage1_generated.png,\"['PROJECT_ROOT/p1/x_stage2_upscaled.png']\",2025-10-05T03:25:40Z\n",
			reason: ReasonStageMismatch,
		},
		{
			name:   "anomaly project column disagrees with path",
			csv:    anom + "s,g,p2,1,2,PROJECT_ROOT/p1/x_stage1_generated.png,\"['PROJECT_ROOT/p1/x_stage2_upscaled.png']\",2025-10-05T03:25:40Z\n",
			reason: ReasonProjectMismatch,
		},
		{
			name:   "anomaly stage shifted into path",
			csv:    anom + "s,g,p1,PROJECT_ROOT/p1/x_stage1_generated.png,2,1,\"['PROJECT_ROOT/p1/x_stage2_upscaled.png']\",2025-10-05T03:25:40Z\n",
			reason: ReasonColumnShift,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := parseOne(t, tt.csv)
			rowRejected := len(res.Decisions) == 0
			if tt.reason == "" && len(res.Rejects) != 0 || tt.reason != "" && (len(res.Rejects) != 1 || res.Rejects[0].Reason != tt.reason) {
				t.Fatalf("rejects %v, want %q", res.Rejects, tt.reason)
			}
			if tt.names == nil {
				if !rowRejected {
					t.Fatalf("accepted %+v", res.Decisions[0])
				}
				return
			}
			d := res.Decisions[0]
			var names []string
			for _, c := range d.Candidates {
				names = append(names, c.Name)
			}
			if d.Project != tt.project || !slices.Equal(names, tt.names) || !d.Candidates[0].Chosen || d.Chosen != tt.names[0] {
				t.Errorf("got project %q candidates %q", d.Project, names)
			}
		})
	}
}

func TestProjectFromPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"PROJECT_ROOT/training data/Aiko_raw/x.png":                  "Aiko_raw",
		"PROJECT_ROOT/training data/mojo1_final/_young blonde/x.png": "mojo1",
		"/Users/e/projects/training data/mojo3/sub/x.png":            "mojo3",
		"training data/mojo3/x.png":                                  "mojo3",
		"PROJECT_ROOT/mojo2/faces/x.png":                             "mojo2",
		"PROJECT_ROOT/content/1101_Hailey/crop/x.png":                "1101_Hailey",
		`mojo1\sub\x.png`:                                            "",
		"mojo1/x.png":                                                "mojo1",
		"crop/hannah/x.png":                                          "",
		"__selected/x.png":                                           "",
		"/abs/mojo1/x.png":                                           "",
		"x.png":                                                      "",
		"PROJECT_ROOT/x.png":                                         "",
		"training data/x.png":                                        "",
		"_final/x.png":                                               "_final",
	} {
		if got := ProjectFromPath(in); got != want {
			t.Errorf("ProjectFromPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProjectsOption(t *testing.T) {
	t.Parallel()
	row := "s,g,crop/hannah,1,0,crop/hannah/a_stage1_generated.png,0,0,10,10,2025-10-05T01:24:18Z,crop/hannah/a_stage1_generated.png,stage1_generated,832,1216,,,,\n"
	o := Options{Projects: map[string]string{"crop": "other", "crop/hannah": "mojo1"}}
	res, err := o.Parse(strings.NewReader(selectCropHeader+row), "t.csv")
	if err != nil || len(res.Decisions) != 1 || res.Decisions[0].Project != "mojo1" {
		t.Fatalf("%v %+v", err, res)
	}
}

func TestUnknownHeader(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "a,b,c\n1,2,3\n", "session_id,set_id,chosen_path,neg_paths,timestamp,timestamp\n",
		strings.Replace(selectCropHeader, "height_1", "height_2", 1)} {
		if _, err := Parse(strings.NewReader(in), "x.csv"); !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("Parse(%.30q) error = %v, want ErrUnknownFormat", in, err)
		}
	}
}

func TestHeaderVariants(t *testing.T) {
	t.Parallel()
	// A BOM, CRLF endings, reordered columns and three image slots.
	h := "\xef\xbb\xbfset_id,session_id,chosen_path,timestamp,neg_paths\r\ng,s,p1/a.png,20250727_224840,[]\r\n"
	res, err := Parse(strings.NewReader(h), "x.csv")
	if err != nil || res.Format != FormatSelection || len(res.Decisions) != 1 || res.Decisions[0].SetID != "g" {
		t.Fatalf("%v %+v", err, res)
	}
	three := strings.TrimSuffix(selectCropHeader, "\n") + ",image_2_path,image_2_stage,width_2,height_2\n"
	res, err = Parse(strings.NewReader(three+scRow("0,0,10,10", "832,1216")+",,,,\n"), "x.csv")
	if err != nil || len(res.Decisions) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
}

func TestParseList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{`[]`, []string{}},
		{` [ ] `, []string{}},
		{`["a", "b"]`, []string{"a", "b"}},
		{`["a\/b", "\u00e9"]`, []string{"a/b", "é"}},
		{`['a']`, []string{"a"}},
		{`['a', "b",]`, []string{"a", "b"}},
		{`['it\'s', "say \"x\"", 'a, b', 'c\\d', '\x41\u00e9\U0001F600\101']`, []string{"it's", `say "x"`, "a, b", `c\d`, "Aé😀A"}},
		{`['unknown \q escape']`, []string{`unknown \q escape`}},
	}
	for _, tt := range tests {
		got, err := ParseList(tt.in)
		if err != nil || !slices.Equal(got, tt.want) || got == nil {
			t.Errorf("ParseList(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{``, `a`, `[`, `['a'`, `['a' 'b']`, `['a'] x`, `[1, 2]`, `["a", 1]`, `[a]`, `['\x4']`,
		`['\ud800']`, "['a\nb']", `[,]`, `None`, `["a",]x`} {
		if got, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) = %q, want error", bad, got)
		}
	}
}
