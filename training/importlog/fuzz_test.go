package importlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics and that its result is
// consistent: every row is either a Decision or a row Reject, and accepted
// crops are normalised boxes.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.csv")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		// The first lines of each real file keep the corpus small.
		lines := strings.SplitAfterN(string(data), "\n", 6)
		f.Add(strings.Join(lines[:min(5, len(lines))], ""))
	}
	f.Add(selectCropHeader + scRow("0,0,1,1", "0,0") + "\n" + scRow("5,0,1,600", "832,1216") + "\n")
	f.Add(selectCropHeader + `s,"g` + "\n")
	f.Add("session_id,set_id,chosen_path,neg_paths,timestamp\ns,g,p/a.png,\"['p/b\\\\'c.png']\",20250101_000000\n")
	f.Fuzz(func(t *testing.T, in string) {
		res, err := Options{Projects: map[string]string{"crop": "c"}}.Parse(strings.NewReader(in), "f.csv")
		if err != nil {
			return
		}
		s := res.Summary()
		if s.Accepted+s.Rejected != res.Rows {
			t.Fatalf("accepted %d + rejected %d != rows %d", s.Accepted, s.Rejected, res.Rows)
		}
		for _, d := range res.Decisions {
			if d.Project == "" || d.Chosen == "" || len(d.Candidates) == 0 {
				t.Fatalf("incomplete decision %+v", d)
			}
			if (d.Crop != nil) != (d.CropStatus == CropBox) {
				t.Fatalf("crop %v with status %s", d.Crop, d.CropStatus)
			}
			if b := d.Crop; b != nil && !(0 <= b[0] && b[0] < b[2] && b[2] <= 1 && 0 <= b[1] && b[1] < b[3] && b[3] <= 1) {
				t.Fatalf("box not normalised: %v", *b)
			}
			chosen := 0
			for _, c := range d.Candidates {
				if c.Chosen {
					chosen++
				}
			}
			if chosen != 1 {
				t.Fatalf("%d chosen candidates in %+v", chosen, d)
			}
		}
	})
}

// FuzzParseList checks that ParseList never panics and that what it accepts
// round-trips through a Python-style rendering.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{`[]`, `["a", "b"]`, `['a', "b",]`, `['it\'s', 'c\\d', '\x41\u00e9\U0001F600\101']`,
		`['PROJECT_ROOT/training data/p/a.png', 'b.png']`, `[`, `['a'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ParseList(in)
		if err != nil {
			return
		}
		var b strings.Builder
		b.WriteString("[")
		for i, s := range l {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("'")
			for _, r := range s {
				switch r {
				case '\\', '\'':
					b.WriteRune('\\')
					b.WriteRune(r)
				case '\n':
					b.WriteString(`\n`)
				case '\r':
					b.WriteString(`\r`)
				default:
					b.WriteRune(r)
				}
			}
			b.WriteString("'")
		}
		b.WriteString("]")
		again, err := ParseList(b.String())
		if err != nil {
			t.Fatalf("re-parse %q: %v", b.String(), err)
		}
		if len(again) != len(l) {
			t.Fatalf("round trip %q -> %q", l, again)
		}
		for i := range l {
			if again[i] != l[i] && strings.ToValidUTF8(l[i], "\uFFFD") == l[i] {
				t.Fatalf("round trip %q -> %q", l, again)
			}
		}
	})
}
