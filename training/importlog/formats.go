package importlog

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"screend"
)

// layout is a detected header: the format and where each column is.
type layout struct {
	format Format
	header []string
	col    map[string]int
	images int // image_N slots of select_crop_log
}

var (
	selectionCols = []string{"session_id", "set_id", "chosen_path", "neg_paths", "timestamp"}
	anomalyCols   = []string{"session_id", "set_id", "project", "chosen_stage", "max_rejected_stage",
		"chosen_path", "rejected_paths", "timestamp"}
	historicalCropCols = []string{"session_id", "set_id", "directory", "chosen_path", "chosen_stage",
		"timestamp", "time_diff_days", "raw_mtime", "final_mtime"}
	mojo1CropCols = []string{"session_id", "set_id", "directory", "chosen_path", "chosen_stage",
		"timestamp", "note", "mtime"}
	selectCropCols = []string{"session_id", "set_id", "directory", "image_count", "chosen_index",
		"chosen_path", "crop_x1", "crop_y1", "crop_x2", "crop_y2", "timestamp"}
)

// imageCols returns the column names of image slot n of select_crop_log.
func imageCols(n int) []string {
	return []string{fmt.Sprintf("image_%d_path", n), fmt.Sprintf("image_%d_stage", n),
		fmt.Sprintf("width_%d", n), fmt.Sprintf("height_%d", n)}
}

// detect finds the format of a header row. Columns are matched by name
// (trimmed, case-insensitive); the set of names must equal a known one.
func detect(header []string) (layout, error) {
	lay := layout{header: header, col: map[string]int{}}
	for i, h := range header {
		k := strings.ToLower(strings.TrimSpace(h))
		if _, dup := lay.col[k]; dup {
			return lay, fmt.Errorf("header repeats column %q: %w", k, ErrUnknownFormat)
		}
		lay.col[k] = i
	}
	same := func(want []string) bool {
		if len(want) != len(lay.col) {
			return false
		}
		for _, w := range want {
			if _, ok := lay.col[w]; !ok {
				return false
			}
		}
		return true
	}
	switch {
	case same(selectionCols):
		lay.format = FormatSelection
	case same(anomalyCols):
		lay.format = FormatAnomaly
	case same(historicalCropCols), same(mojo1CropCols):
		lay.format = FormatCropLabel
	default:
		extra := len(lay.col) - len(selectCropCols)
		if extra >= 4 && extra%4 == 0 {
			want := slices.Clone(selectCropCols)
			for n := range extra / 4 {
				want = append(want, imageCols(n)...)
			}
			if same(want) {
				lay.format = FormatSelectCrop
				lay.images = extra / 4
				break
			}
		}
		return lay, fmt.Errorf("header %q: %w", strings.Join(header, ","), ErrUnknownFormat)
	}
	return lay, nil
}

// rowView reads a record's fields by column name.
type rowView struct {
	lay *layout
	rec []string
}

func (r rowView) has(col string) bool { _, ok := r.lay.col[col]; return ok }

func (r rowView) get(col string) string {
	if i, ok := r.lay.col[col]; ok {
		return r.rec[i]
	}
	return ""
}

// kindOf classifies a field value for column-shift detection.
func kindOf(v string) string {
	t := strings.TrimSpace(v)
	l := strings.ToLower(t)
	switch {
	case t == "":
		return "empty"
	case t[0] == '[':
		return "list"
	case strings.ContainsAny(t, `/\`) || hasImageExt(l):
		return "path"
	case screend.StageOf(t) != 0:
		return "stage"
	}
	if _, err := strconv.ParseFloat(t, 64); err == nil {
		return "number"
	}
	if _, _, ok := parseTime(t); ok {
		return "timestamp"
	}
	return "text"
}

func hasImageExt(l string) bool {
	for _, e := range []string{".png", ".jpg", ".jpeg", ".webp"} {
		if strings.HasSuffix(l, e) {
			return true
		}
	}
	return false
}

// number parses a numeric column. A value that looks like it belongs to
// another kind of column (a path, list, stage name or timestamp) is a
// column shift; any other non-number is bad_number.
func (r rowView) number(col string) (float64, *rowError) {
	v := strings.TrimSpace(r.get(col))
	f, err := strconv.ParseFloat(v, 64)
	if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return f, nil
	}
	switch k := kindOf(v); k {
	case "path", "list", "stage", "timestamp":
		return 0, rejectRow(ReasonColumnShift, "%s holds a %s: %.60q", col, k, v)
	}
	if v == "" {
		return 0, rejectRow(ReasonBadNumber, "%s is empty", col)
	}
	return 0, rejectRow(ReasonBadNumber, "%s is not a number: %.60q", col, v)
}

// integer parses a column that must hold a whole number (1, 1.0).
func (r rowView) integer(col string) (int, *rowError) {
	f, rerr := r.number(col)
	if rerr != nil {
		return 0, rerr
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return 0, rejectRow(ReasonBadNumber, "%s is not a whole number: %q", col, r.get(col))
	}
	return int(f), nil
}

// path reads a path column; a number, timestamp or list there is a shift.
func (r rowView) path(col string) (string, *rowError) {
	v := strings.TrimSpace(r.get(col))
	switch k := kindOf(v); k {
	case "number", "timestamp", "list":
		return "", rejectRow(ReasonColumnShift, "%s holds a %s: %.60q", col, k, v)
	}
	return v, nil
}

// chosenPath reads chosen_path, which must name a file.
func (r rowView) chosenPath(d *Decision) *rowError {
	v, rerr := r.path("chosen_path")
	if rerr != nil {
		return rerr
	}
	if FileName(v) == "" {
		return rejectRow(ReasonEmptyChosen, "chosen_path is empty")
	}
	d.ChosenPath, d.Chosen = v, FileName(v)
	return nil
}

// list reads a list-of-paths column.
func (r rowView) list(col string) ([]string, *rowError) {
	v := r.get(col)
	l, err := ParseList(v)
	if err != nil {
		switch k := kindOf(v); k {
		case "path", "number", "timestamp", "stage":
			return nil, rejectRow(ReasonColumnShift, "%s holds a %s: %.60q", col, k, v)
		}
		return nil, rejectRow(ReasonBadList, "%s: %v", col, err)
	}
	for i, p := range l {
		if FileName(p) == "" {
			return nil, rejectRow(ReasonBadList, "%s: element %d is empty", col, i)
		}
	}
	return l, nil
}

// stageColumn checks a numeric stage column against the stage token of name.
func (r rowView) stageColumn(col, name string) (float64, *rowError) {
	s, rerr := r.number(col)
	if rerr != nil {
		return 0, rerr
	}
	if got := screend.StageOf(name); got != s {
		return 0, rejectRow(ReasonStageMismatch, "%s is %v but %q is stage %v", col, s, name, got)
	}
	return s, nil
}

// candidate builds a Candidate from a logged path.
func candidate(p string, chosen bool) Candidate {
	n := FileName(p)
	return Candidate{Name: n, Path: strings.TrimSpace(p), Stage: screend.StageOf(n), Chosen: chosen}
}

// withNegatives fills d.Candidates with the chosen file then the negatives.
func withNegatives(d *Decision, col string, negs []string) *rowError {
	d.Candidates = []Candidate{candidate(d.ChosenPath, true)}
	for _, n := range negs {
		if FileName(n) == d.Chosen {
			return rejectRow(ReasonChosenAlsoNegative, "%s lists the chosen file %q", col, d.Chosen)
		}
		d.Candidates = append(d.Candidates, candidate(n, false))
	}
	return nil
}

func (p *parser) selection(d *Decision, r rowView) *rowError {
	if rerr := r.chosenPath(d); rerr != nil {
		return rerr
	}
	negs, rerr := r.list("neg_paths")
	if rerr != nil {
		return rerr
	}
	d.CropStatus = CropNotLogged
	return withNegatives(d, "neg_paths", negs)
}

func (p *parser) anomaly(d *Decision, r rowView) *rowError {
	if rerr := r.chosenPath(d); rerr != nil {
		return rerr
	}
	rej, rerr := r.list("rejected_paths")
	if rerr != nil {
		return rerr
	}
	if len(rej) == 0 {
		return rejectRow(ReasonBadList, "rejected_paths is empty; an anomaly needs a rejected higher stage")
	}
	chosen, rerr := r.stageColumn("chosen_stage", d.Chosen)
	if rerr != nil {
		return rerr
	}
	maxRej, rerr := r.number("max_rejected_stage")
	if rerr != nil {
		return rerr
	}
	var got float64
	for _, x := range rej {
		got = max(got, screend.StageOf(FileName(x)))
	}
	if got != maxRej {
		return rejectRow(ReasonStageMismatch, "max_rejected_stage is %v but the rejected files reach stage %v", maxRej, got)
	}
	if chosen >= maxRej {
		return rejectRow(ReasonStageMismatch, "chosen stage %v is not below max rejected stage %v: not an anomaly", chosen, maxRej)
	}
	d.CropStatus = CropNotLogged
	return withNegatives(d, "rejected_paths", rej)
}

func (p *parser) cropLabel(d *Decision, r rowView) *rowError {
	if rerr := r.chosenPath(d); rerr != nil {
		return rerr
	}
	if _, rerr := r.stageColumn("chosen_stage", d.Chosen); rerr != nil {
		return rerr
	}
	d.Candidates = []Candidate{candidate(d.ChosenPath, true)}
	d.CropStatus = CropNoCoords
	return nil
}

func (p *parser) selectCrop(d *Decision, r rowView) ([]Reject, *rowError) {
	count, rerr := r.integer("image_count")
	if rerr != nil {
		return nil, rerr
	}
	idx, rerr := r.integer("chosen_index")
	if rerr != nil {
		return nil, rerr
	}
	if rerr := r.chosenPath(d); rerr != nil {
		return nil, rerr
	}
	gap := -1
	for n := range p.lay.images {
		cols := imageCols(n)
		ip, rerr := r.path(cols[0])
		if rerr != nil {
			return nil, rerr
		}
		if ip == "" {
			for _, c := range cols[1:] {
				if strings.TrimSpace(r.get(c)) != "" {
					return nil, rejectRow(ReasonColumnShift, "%s is set but %s is empty", c, cols[0])
				}
			}
			if gap < 0 {
				gap = n
			}
			continue
		}
		if gap >= 0 {
			return nil, rejectRow(ReasonBadCount, "image_%d is set after empty image_%d", n, gap)
		}
		c := candidate(ip, false)
		if st := strings.TrimSpace(r.get(cols[1])); st != "" {
			switch k := kindOf(st); k {
			case "path", "number", "timestamp", "list":
				return nil, rejectRow(ReasonColumnShift, "%s holds a %s: %.60q", cols[1], k, st)
			}
			if screend.StageOf(st) != c.Stage {
				return nil, rejectRow(ReasonStageMismatch, "%s is %q but %q is stage %v", cols[1], st, c.Name, c.Stage)
			}
		}
		for i, dst := range []*int{&c.Width, &c.Height} {
			if strings.TrimSpace(r.get(cols[2+i])) == "" {
				continue // unknown size
			}
			v, rerr := r.integer(cols[2+i])
			if rerr != nil {
				return nil, rerr
			}
			if v < 0 {
				return nil, rejectRow(ReasonBadNumber, "%s is negative: %d", cols[2+i], v)
			}
			*dst = v
		}
		d.Candidates = append(d.Candidates, c)
	}
	if count != len(d.Candidates) {
		return nil, rejectRow(ReasonBadCount, "image_count is %d but %d image slots are set", count, len(d.Candidates))
	}
	if idx < 0 || idx >= count {
		return nil, rejectRow(ReasonBadIndex, "chosen_index %d is outside 0..%d", idx, count-1)
	}
	if d.Candidates[idx].Name != d.Chosen {
		return nil, rejectRow(ReasonChosenNotCandidate, "chosen_path %q is not image_%d %q",
			d.ChosenPath, idx, d.Candidates[idx].Path)
	}
	d.Candidates[idx].Chosen = true

	keys := []string{"crop_x1", "crop_y1", "crop_x2", "crop_y2"}
	empty := 0
	for _, k := range keys {
		if strings.TrimSpace(r.get(k)) == "" {
			empty++
		}
	}
	if empty == len(keys) {
		d.CropStatus = CropDropped
		return []Reject{{Part: PartCrop, Reason: ReasonMissingCrop, Detail: "crop_x1..crop_y2 are empty"}}, nil
	}
	var v [4]float64
	for i, k := range keys {
		if v[i], rerr = r.number(k); rerr != nil {
			return nil, rerr
		}
	}
	ch := d.Candidates[idx]
	status, box, reason, detail := normaliseCrop(v, ch.Width, ch.Height)
	d.CropStatus, d.Crop = status, box
	if status == CropDropped {
		return []Reject{{Part: PartCrop, Reason: reason, Detail: detail}}, nil
	}
	return nil, nil
}

// normaliseCrop validates a logged crop [x1, y1, x2, y2] of a w x h image
// (0 when unknown) and returns it normalised. See the package doc.
func normaliseCrop(v [4]float64, w, h int) (CropStatus, *screend.Box, Reason, string) {
	x1, y1, x2, y2 := v[0], v[1], v[2], v[3]
	drop := func(r Reason, f string, a ...any) (CropStatus, *screend.Box, Reason, string) {
		return CropDropped, nil, r, fmt.Sprintf(f, a...)
	}
	if v == [4]float64{0, 0, 1, 1} {
		return drop(ReasonPlaceholderCrop, "crop is the placeholder (0,0,1,1)")
	}
	if x1 > x2 || y1 > y2 {
		return drop(ReasonInvertedBox, "x1=%v x2=%v y1=%v y2=%v", x1, x2, y1, y2)
	}
	if x1 == x2 || y1 == y2 {
		return drop(ReasonEmptyBox, "zero-area box %v", v)
	}
	if min(x1, y1) >= 0 && max(x2, y2) <= 1 {
		b := screend.Box(v)
		return CropBox, &b, "", ""
	}
	if w <= 0 || h <= 0 {
		return drop(ReasonZeroDimensions, "pixel crop %v needs the image size, logged as %dx%d", v, w, h)
	}
	fw, fh := float64(w), float64(h)
	if x1 < 0 || y1 < 0 || x2 > fw || y2 > fh {
		return drop(ReasonBoxOutside, "box %v is outside the %dx%d image", v, w, h)
	}
	if v == [4]float64{0, 0, fw, fh} {
		return CropFullFrame, nil, "", ""
	}
	b := screend.Box{x1 / fw, y1 / fh, x2 / fw, y2 / fh}
	return CropBox, &b, "", ""
}

// finish parses the timestamp and resolves the project of a row.
func (p *parser) finish(d *Decision, r rowView) *rowError {
	raw := r.get("timestamp")
	t, zone, ok := parseTime(strings.TrimSpace(raw))
	if !ok {
		switch k := kindOf(raw); k {
		case "path", "list", "stage":
			return rejectRow(ReasonColumnShift, "timestamp holds a %s: %.60q", k, raw)
		}
		return rejectRow(ReasonBadTimestamp, "timestamp %.60q", raw)
	}
	d.Time, d.TimeRaw, d.TimeHasZone = t, raw, zone
	return p.project(d, r)
}

// project applies the project rules of the package doc.
func (p *parser) project(d *Decision, r rowView) *rowError {
	type source struct{ what, project string }
	var srcs []source
	if r.has("project") {
		if v := strings.TrimSpace(r.get("project")); v != "" {
			if !validProject(v) {
				return rejectRow(ReasonUnknownProject, "project column %q is not a project name", v)
			}
			srcs = append(srcs, source{"project column", canonicalProject(v)})
		}
	}
	dir := r.get("directory")
	if pr := projectFromDir(dir); pr != "" {
		srcs = append(srcs, source{"directory " + dir, pr})
	}
	for _, c := range d.Candidates {
		if pr := ProjectFromPath(c.Path); pr != "" {
			srcs = append(srcs, source{"path " + c.Path, pr})
		}
	}
	if len(srcs) == 0 {
		pr := lookupFolder(p.opts.Projects, dir)
		if pr == "" {
			pr = lookupFolder(p.opts.Projects, folderOf(d.ChosenPath))
		}
		if pr == "" {
			return rejectRow(ReasonUnknownProject, "no project in directory %q or chosen path %q", dir, d.ChosenPath)
		}
		d.Project = pr
		return nil
	}
	d.Project = srcs[0].project
	for _, s := range srcs[1:] {
		if s.project != d.Project {
			return rejectRow(ReasonProjectMismatch, "%s says %q but %s says %q",
				srcs[0].what, d.Project, s.what, s.project)
		}
	}
	return nil
}

// timeLayouts are the timestamp forms seen in the logs, zoned first.
var (
	zonedLayouts = []string{
		time.RFC3339Nano,                      // 2025-10-05T01:24:18.152546Z, 2025-07-09T15:56:30+00:00
		"2006-01-02 15:04:05.999999999Z07:00", // Python str(datetime) with a zone
	}
	localLayouts = []string{
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999", // session ids of select_crop_log
		"20060102_150405",               // file-name prefix form
	}
)

// parseTime parses a timestamp; zone-less forms are read as UTC and
// reported with hasZone false.
func parseTime(s string) (t time.Time, hasZone bool, ok bool) {
	if s == "" {
		return time.Time{}, false, false
	}
	for _, l := range zonedLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true, true
		}
	}
	for _, l := range localLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, false, true
		}
	}
	return time.Time{}, false, false
}
