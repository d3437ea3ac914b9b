package importlog

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"screend"
)

// ErrUnknownFormat is returned when a file's header matches no known log.
var ErrUnknownFormat = errors.New("unknown log format")

// Format names a log format, detected from the header row.
type Format string

// The log formats.
const (
	// FormatSelectCrop is select_crop_log.csv: one row per group shown in the
	// crop tool, with image_N_* columns and a crop box.
	FormatSelectCrop Format = "select_crop"
	// FormatSelection is *_selection_log.csv: a chosen path and a list of
	// negative paths.
	FormatSelection Format = "selection"
	// FormatAnomaly is anomaly_cases.csv: groups where a lower stage won.
	FormatAnomaly Format = "anomaly"
	// FormatCropLabel is historical_crop_log.csv and mojo1_crop_log.csv: the
	// file named by chosen_path was cropped; no coordinates.
	FormatCropLabel Format = "crop_label"
)

// CropStatus says what a Decision knows about a crop of its chosen image.
type CropStatus string

// The crop states.
const (
	// CropNotLogged: the format records no crops (selection, anomaly).
	CropNotLogged CropStatus = "not_logged"
	// CropBox: Decision.Crop holds the normalised box.
	CropBox CropStatus = "box"
	// CropFullFrame: the logged crop was the whole image, a no-op; Crop is nil.
	CropFullFrame CropStatus = "full_frame"
	// CropNoCoords: the image was cropped but the log has no coordinates.
	CropNoCoords CropStatus = "no_coords"
	// CropDropped: a crop was logged but failed validation; Crop is nil and
	// Result.Rejects holds a Reject with Part PartCrop for the same line.
	CropDropped CropStatus = "dropped"
)

// Candidate is one image of a decision's group.
type Candidate struct {
	Name   string  // base name, the match key within a project
	Path   string  // the path as logged
	Stage  float64 // from the stage token in Name; 0 when it has none
	Width  int     // pixels; 0 when the log does not say
	Height int     // pixels; 0 when the log does not say
	Chosen bool    // the human kept this image
}

// Decision is one accepted log row.
type Decision struct {
	File      string // source name given to Parse
	Line      int    // 1-based line of the row's start in the file
	Format    Format
	SessionID string
	SetID     string
	Project   string // see the package doc for the rules

	Time        time.Time // parsed timestamp column
	TimeRaw     string    // timestamp column as written
	TimeHasZone bool      // false when TimeRaw had no zone and was read as UTC

	Chosen     string      // base name of the chosen image
	ChosenPath string      // chosen path as logged
	Candidates []Candidate // the group as logged, chosen included, deduplicated by Name

	CropStatus CropStatus
	Crop       *screend.Box // non-nil only when CropStatus is CropBox

	// DuplicateOf is the line of an earlier Decision in the same file with
	// the same Format, Project and Chosen, or 0. Both are kept; upstream
	// tools append re-crops, so the later line is the newer decision.
	DuplicateOf int
}

// Negatives returns the names of the candidates that were not chosen.
func (d Decision) Negatives() []string {
	var out []string
	for _, c := range d.Candidates {
		if !c.Chosen {
			out = append(out, c.Name)
		}
	}
	return out
}

// Part says what a Reject dropped.
type Part string

// The parts a Reject can drop.
const (
	PartRow       Part = "row"       // the whole row; no Decision
	PartCrop      Part = "crop"      // the crop only; the Decision is kept with CropDropped
	PartCandidate Part = "candidate" // one repeated candidate; the Decision is kept
)

// Reason is a short stable code for why something was rejected.
type Reason string

// The reject reasons; the package doc explains each.
const (
	ReasonCSVSyntax          Reason = "csv_syntax"
	ReasonFieldCount         Reason = "field_count"
	ReasonColumnShift        Reason = "column_shift"
	ReasonBadNumber          Reason = "bad_number"
	ReasonBadList            Reason = "bad_list"
	ReasonBadTimestamp       Reason = "bad_timestamp"
	ReasonBadIndex           Reason = "bad_index"
	ReasonBadCount           Reason = "bad_count"
	ReasonEmptyChosen        Reason = "empty_chosen"
	ReasonChosenNotCandidate Reason = "chosen_not_candidate"
	ReasonChosenAlsoNegative Reason = "chosen_also_negative"
	ReasonUnknownProject     Reason = "unknown_project"
	ReasonProjectMismatch    Reason = "project_mismatch"
	ReasonStageMismatch      Reason = "stage_mismatch"
	ReasonDuplicateCandidate Reason = "duplicate_candidate"
	ReasonMissingCrop        Reason = "missing_crop"
	ReasonZeroDimensions     Reason = "zero_dimensions"
	ReasonPlaceholderCrop    Reason = "placeholder_crop"
	ReasonInvertedBox        Reason = "inverted_box"
	ReasonEmptyBox           Reason = "empty_box"
	ReasonBoxOutside         Reason = "box_outside"
)

// Reject records a rejected row or a dropped part of an accepted row.
type Reject struct {
	File   string
	Line   int
	Part   Part
	Reason Reason
	Detail string // human-readable specifics
	Raw    string // the row as written, without its line ending
}

// String formats the reject as "file:line: part reason: detail".
func (r Reject) String() string {
	return fmt.Sprintf("%s:%d: %s %s: %s", r.File, r.Line, r.Part, r.Reason, r.Detail)
}

// Result is everything Parse learned from one file.
type Result struct {
	File      string
	Format    Format
	Header    []string
	Rows      int // data rows read, including rejected ones
	Decisions []Decision
	Rejects   []Reject // in file order; PartRow rejects have no Decision
}

// Summary counts a Result's outcome.
type Summary struct {
	Rows     int
	Accepted int
	Rejected int                     // rows rejected whole
	ByReason map[Part]map[Reason]int // every Reject, by part and reason
}

// Summary counts accepted rows and rejects by part and reason.
func (r Result) Summary() Summary {
	s := Summary{Rows: r.Rows, Accepted: len(r.Decisions), ByReason: map[Part]map[Reason]int{}}
	for _, rj := range r.Rejects {
		if rj.Part == PartRow {
			s.Rejected++
		}
		m := s.ByReason[rj.Part]
		if m == nil {
			m = map[Reason]int{}
			s.ByReason[rj.Part] = m
		}
		m[rj.Reason]++
	}
	return s
}

// String renders the summary on one line, e.g.
// "rows=10 accepted=9 rejected=1 row:field_count=1 crop:placeholder_crop=2".
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rows=%d accepted=%d rejected=%d", s.Rows, s.Accepted, s.Rejected)
	var keys []string
	for p, m := range s.ByReason {
		for r, n := range m {
			keys = append(keys, fmt.Sprintf("%s:%s=%d", p, r, n))
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(" ")
		b.WriteString(k)
	}
	return b.String()
}

// Options tunes Parse. The zero value is the default.
type Options struct {
	// Projects maps a folder as written in a log (a "directory" column or
	// the folder of a relative path, e.g. "crop" or "crop/hannah") to the
	// project it belongs to, for logs that name working folders instead of
	// projects. The longest matching folder prefix wins. It is consulted
	// only when the row itself names no project. Default nil: such rows are
	// rejected with unknown_project.
	Projects map[string]string
}

// Parse reads one decision log in any known format. name is recorded as the
// source file of every Decision and Reject. Bad rows become Rejects; the
// error is only for unreadable input or an unknown header.
func Parse(r io.Reader, name string) (Result, error) {
	return Options{}.Parse(r, name)
}

// ParseFile opens and parses the log at path with default options; the base
// name of path is recorded as the source file.
func ParseFile(path string) (Result, error) {
	return Options{}.ParseFile(path)
}

// ParseFile is like the package-level ParseFile, with options.
func (o Options) ParseFile(path string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	res, err := o.Parse(f, filepath.Base(path))
	if err != nil {
		return res, fmt.Errorf("parse %s: %w", path, err)
	}
	return res, nil
}

// Parse is like the package-level Parse, with options.
func (o Options) Parse(r io.Reader, name string) (Result, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Result{File: name}, fmt.Errorf("read log: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	res := Result{File: name}

	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return res, fmt.Errorf("empty file: %w", ErrUnknownFormat)
		}
		return res, fmt.Errorf("read header: %w", err)
	}
	res.Header = slices.Clone(header)
	lay, err := detect(header)
	if err != nil {
		return res, err
	}
	res.Format = lay.format

	p := &parser{opts: o, res: &res, lay: lay, seen: map[dupKey]int{}}
	for {
		start := cr.InputOffset()
		rec, err := cr.Read()
		end := cr.InputOffset()
		if errors.Is(err, io.EOF) {
			break
		}
		raw := strings.TrimRight(string(data[start:end]), "\r\n")
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			res.Rows++
			res.Rejects = append(res.Rejects, Reject{File: name, Line: pe.StartLine, Part: PartRow,
				Reason: ReasonCSVSyntax, Detail: pe.Err.Error(), Raw: raw})
			if end <= start {
				break // no progress; cannot resynchronise
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("read row: %w", err)
		}
		res.Rows++
		line, _ := cr.FieldPos(0)
		p.row(line, rec, raw)
	}
	return res, nil
}

// dupKey identifies decisions about the same image.
type dupKey struct {
	project, chosen string
}

// parser holds the state of one Parse call.
type parser struct {
	opts Options
	res  *Result
	lay  layout
	seen map[dupKey]int
}

// rowError is a whole-row rejection raised while reading a row.
type rowError struct {
	reason Reason
	detail string
}

func (e *rowError) Error() string { return string(e.reason) + ": " + e.detail }

func rejectRow(reason Reason, format string, args ...any) *rowError {
	return &rowError{reason: reason, detail: fmt.Sprintf(format, args...)}
}

func (p *parser) row(line int, rec []string, raw string) {
	if len(rec) != len(p.lay.header) {
		p.reject(line, raw, PartRow, ReasonFieldCount,
			fmt.Sprintf("%d fields, header has %d", len(rec), len(p.lay.header)))
		return
	}
	row := rowView{lay: &p.lay, rec: rec}
	d := Decision{File: p.res.File, Line: line, Format: p.lay.format,
		SessionID: strings.TrimSpace(row.get("session_id")), SetID: strings.TrimSpace(row.get("set_id"))}
	var parts []Reject
	var rerr *rowError
	switch p.lay.format {
	case FormatSelectCrop:
		parts, rerr = p.selectCrop(&d, row)
	case FormatSelection:
		rerr = p.selection(&d, row)
	case FormatAnomaly:
		rerr = p.anomaly(&d, row)
	case FormatCropLabel:
		rerr = p.cropLabel(&d, row)
	}
	if rerr == nil {
		rerr = p.finish(&d, row)
	}
	if rerr != nil {
		p.reject(line, raw, PartRow, rerr.reason, rerr.detail)
		return
	}
	// Deduplicate candidates by name, recording every repeat.
	var kept []Candidate
	at := map[string]int{}
	for _, c := range d.Candidates {
		if i, ok := at[c.Name]; ok {
			kept[i].Chosen = kept[i].Chosen || c.Chosen
			parts = append(parts, Reject{Part: PartCandidate, Reason: ReasonDuplicateCandidate,
				Detail: fmt.Sprintf("%q appears again as %q", c.Name, c.Path)})
			continue
		}
		at[c.Name] = len(kept)
		kept = append(kept, c)
	}
	d.Candidates = kept
	k := dupKey{d.Project, d.Chosen}
	if prev, ok := p.seen[k]; ok {
		d.DuplicateOf = prev
	} else {
		p.seen[k] = line
	}
	p.res.Decisions = append(p.res.Decisions, d)
	for _, rj := range parts {
		p.reject(line, raw, rj.Part, rj.Reason, rj.Detail)
	}
}

func (p *parser) reject(line int, raw string, part Part, reason Reason, detail string) {
	p.res.Rejects = append(p.res.Rejects, Reject{File: p.res.File, Line: line, Part: part,
		Reason: reason, Detail: detail, Raw: raw})
}
