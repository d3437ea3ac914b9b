package daemon

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"screend"
	"screend/sql"
)

// TestMoveAcrossFileSystems moves a file from tmpfs (/dev/shm) to the test's
// folder on another file system: the rename fails with EXDEV, so the file is
// copied, synced, verified and only then removed at the source. The
// destination is never overwritten.
func TestMoveAcrossFileSystems(t *testing.T) {
	shm, err := os.MkdirTemp("/dev/shm", "screend-test-")
	if err != nil {
		t.Skipf("no /dev/shm to move from: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	src := filepath.Join(shm, "a.png")
	data := bytes.Repeat([]byte("screend"), 100_000)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "__selected", "a.png")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := moveFile(src, dst); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("destination holds %d bytes (%v), want the source's %d", len(got), err, len(data))
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Errorf("source still there after the move: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dst), screend.TempPrefix+"*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// A taken destination is never replaced.
	if err := os.WriteFile(src, []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := moveFile(src, dst); err == nil {
		t.Error("moving onto an existing file succeeded")
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Error("the existing destination was overwritten")
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("the source of a refused move is gone: %v", err)
	}
}

func TestFreeStem(t *testing.T) {
	long := func(s string, n int) string { return strings.Repeat(s, n) }
	for _, c := range []struct {
		name  string
		stem  string
		exts  []string
		taken []string
		want  string
	}{
		{"free", "x", []string{".png"}, nil, "x"},
		// x is taken by x.png, x_1 by x_1.yaml: the image and its .yaml get x_2.
		{"companions keep one stem", "x", []string{".png", ".yaml"}, []string{"x.png", "x_1.yaml"}, "x_2"},
		{"a 251-byte name fits beside .decision", long("a", 251), []string{".png", ".decision"}, nil, long("a", 246)},
		{"a taken 254-byte name gets a suffix within 255 bytes", long("b", 250), []string{".png"},
			[]string{long("b", 250) + ".png"}, long("b", 249) + "_1"},
		{"UTF-8 is cut between characters", long("é", 125), []string{".png"}, []string{long("é", 125) + ".png"},
			long("é", 124) + "_1"},
		{"other bytes are cut anywhere", long("\xff", 251), []string{".png"}, []string{long("\xff", 251) + ".png"},
			long("\xff", 249) + "_1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			taken := map[string]bool{}
			for _, n := range c.taken {
				taken[filepath.Join("/p", n)] = true
			}
			got, err := freeStem("/p", c.stem, c.exts, func(p string) bool { return taken[p] })
			if err != nil {
				t.Fatal(err)
			}
			if got != filepath.Join("/p", c.want) {
				t.Errorf("free stem %q, want %q", got, c.want)
			}
			for _, ext := range c.exts {
				if n := len(filepath.Base(got) + ext); n > nameMax {
					t.Errorf("%s%s is %d bytes", filepath.Base(got), ext, n)
				}
			}
			if utf8.ValidString(c.stem) && !utf8.ValidString(got) {
				t.Errorf("cut inside a character: %q", got)
			}
		})
	}
	// A folder where every name is taken ends the search with an error,
	// never a loop.
	if _, err := freeStem("/p", "x", []string{".png"}, func(string) bool { return true }); err == nil {
		t.Error("no error when no name is free")
	}
}

// TestPlanMoves is the rule of where each file of a decided group goes.
func TestPlanMoves(t *testing.T) {
	f := func(v float32) *float32 { return &v }
	const p = "/in/p"
	images := []sql.ApplyImage{{ID: 1, Path: p + "/s_stage1.png"}, {ID: 2, Path: p + "/s_stage2.png"}}
	listing := folders{p: {"s_stage1.png": true, "s_stage1.yaml": true, "s_stage2.png": true, "s_stage2.yaml": true,
		"s_stage2.1.yaml": true, "s_stage2.caption": true, "s_stage2": true}}
	for _, c := range []struct {
		name     string
		decision sql.Decision
		listing  folders
		want     []string // kind src -> dst, relative to the project
		err      string
	}{
		{"select", sql.Decision{Outcome: screend.OutcomeSelect, ChosenImageID: 2}, listing, []string{
			"move s_stage1.png -> __delete_staging/s_stage1.png",
			"move s_stage1.yaml -> __delete_staging/s_stage1.yaml",
			"move s_stage2.png -> __selected/s_stage2.png",
			"move s_stage2.caption -> __selected/s_stage2.caption",
			"move s_stage2.yaml -> __selected/s_stage2.yaml",
		}, ""},
		{"crop", sql.Decision{Outcome: screend.OutcomeCrop, ChosenImageID: 2, Crop: []*float32{f(0), f(0), f(0.5), f(0.5)}}, listing, []string{
			"move s_stage1.png -> __delete_staging/s_stage1.png",
			"move s_stage1.yaml -> __delete_staging/s_stage1.yaml",
			"crop s_stage2.png -> __cropped/s_stage2.png",
			"sidecar  -> __cropped/s_stage2.decision",
			"move s_stage2.caption -> __cropped/s_stage2.caption",
			"move s_stage2.yaml -> __cropped/s_stage2.yaml",
			"move s_stage2.png -> __originals/s_stage2.png",
		}, ""},
		{"reject, a name taken", sql.Decision{Outcome: screend.OutcomeReject},
			folders{p: listing[p], p + "/__delete_staging": {"s_stage1.png": true}}, []string{
				"move s_stage1.png -> __delete_staging/s_stage1_1.png",
				"move s_stage1.yaml -> __delete_staging/s_stage1_1.yaml",
				"move s_stage2.png -> __delete_staging/s_stage2.png",
				"move s_stage2.caption -> __delete_staging/s_stage2.caption",
				"move s_stage2.yaml -> __delete_staging/s_stage2.yaml",
			}, ""},
		{"manual crop, a lost image", sql.Decision{Outcome: screend.OutcomeManualCrop, ChosenImageID: 2},
			folders{p: {"s_stage2.png": true}}, []string{"move s_stage2.png -> __crop/s_stage2.png"}, ""},
		{"NULL in the box", sql.Decision{Outcome: screend.OutcomeCrop, ChosenImageID: 2, Crop: []*float32{f(0), nil, f(1), f(1)}}, listing,
			nil, "bad crop box {0,NULL,1,1}"},
		{"inverted box", sql.Decision{Outcome: screend.OutcomeCrop, ChosenImageID: 2, Crop: []*float32{f(0.6), f(0), f(0.4), f(1)}}, listing,
			nil, "bad crop box"},
		{"chosen image of another group", sql.Decision{Outcome: screend.OutcomeSelect, ChosenImageID: 9}, listing, nil, "not in group"},
		{"chosen image renamed", sql.Decision{Outcome: screend.OutcomeSelect, ChosenImageID: 2}, folders{p: {"s_stage1.png": true}}, nil,
			"chosen image /in/p/s_stage2.png is gone"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := sql.DecidedGroup{ID: 7, ProjectName: "p", ProjectRoot: "/in", Decision: c.decision, Images: images}
			moves, err := planMoves(g, c.listing)
			if c.err != "" {
				if !errors.Is(err, errCannotApply) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range moves {
				src, _ := filepath.Rel(p, m.Src)
				if m.Src == "" {
					src = ""
				}
				dst, _ := filepath.Rel(p, m.Dst)
				got = append(got, string(m.Kind)+" "+src+" -> "+dst)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("moves\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}
