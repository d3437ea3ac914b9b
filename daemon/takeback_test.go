package daemon

import (
	"slices"
	"testing"
	"time"

	"screend"
	"screend/sql"
)

func TestReverseMoves(t *testing.T) {
	t.Parallel()
	done := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	img := int64(7)
	sha := []byte{1, 2, 3}
	entry := func(kind screend.MoveKind, src, dst string, image bool) sql.JournalEntry {
		e := sql.JournalEntry{Move: sql.Move{Kind: kind, Src: src, Dst: dst}, DoneAt: done}
		if image {
			e.ImageID, e.ImageSHA256 = &img, sha
		}
		if kind == screend.WriteSidecar {
			e.Content = []byte("{}")
		}
		return e
	}
	here := fileFact{Exists: true, ModTime: done.Add(-time.Hour), SHA256: sha}
	sidecar := fileFact{Exists: true, ModTime: done, SHA256: sha256Of([]byte("{}"))}
	tests := []struct {
		name    string
		journal []sql.JournalEntry
		facts   map[string]fileFact
		taken   []string
		want    []string // src -> dst of the reverse moves
		left    []string
	}{{
		name:    "a selected image and its companion go back, newest first",
		journal: []sql.JournalEntry{entry(screend.MoveFile, "/p/a.png", "/p/__selected/a.png", true), entry(screend.MoveFile, "/p/a.yaml", "/p/__selected/a.yaml", false)},
		facts:   map[string]fileFact{"/p/__selected/a.png": here, "/p/__selected/a.yaml": here},
		want:    []string{"/p/__selected/a.yaml -> /p/a.yaml", "/p/__selected/a.png -> /p/a.png"},
	}, {
		name: "a crop and its sidecar go to __delete_staging, the original back",
		journal: []sql.JournalEntry{
			entry(screend.CropFile, "/p/a.png", "/p/__cropped/a.png", true),
			entry(screend.WriteSidecar, "", "/p/__cropped/a.decision", false),
			entry(screend.MoveFile, "/p/a.png", "/p/__originals/a.png", true),
		},
		facts: map[string]fileFact{"/p/__cropped/a.png": {Exists: true, ModTime: done}, "/p/__cropped/a.decision": sidecar, "/p/__originals/a.png": here},
		taken: []string{"/p/__delete_staging/a.png"},
		want: []string{"/p/__originals/a.png -> /p/a.png", "/p/__cropped/a.decision -> /p/__delete_staging/a.decision",
			"/p/__cropped/a.png -> /p/__delete_staging/a_1.png"},
	}, {
		name:    "a name taken since gets a suffix",
		journal: []sql.JournalEntry{entry(screend.MoveFile, "/p/a.png", "/p/__delete_staging/a.png", true)},
		facts:   map[string]fileFact{"/p/__delete_staging/a.png": here},
		taken:   []string{"/p/a.png", "/p/a_1.png"},
		want:    []string{"/p/__delete_staging/a.png -> /p/a_2.png"},
	}, {
		name: "changed and missing files stay and are reported",
		journal: []sql.JournalEntry{
			entry(screend.MoveFile, "/p/a.png", "/p/__selected/a.png", true),
			entry(screend.MoveFile, "/p/a.yaml", "/p/__selected/a.yaml", false),
			entry(screend.MoveFile, "/p/b.png", "/p/__delete_staging/b.png", true),
			entry(screend.WriteSidecar, "", "/p/__cropped/a.decision", false),
		},
		facts: map[string]fileFact{
			"/p/__selected/a.png":     {Exists: true, ModTime: done, SHA256: []byte{9}},
			"/p/__selected/a.yaml":    {Exists: true, ModTime: done.Add(time.Minute)},
			"/p/__cropped/a.decision": {Exists: true, ModTime: done, SHA256: []byte{9}},
		},
		left: []string{"/p/__cropped/a.decision", "/p/__delete_staging/b.png", "/p/__selected/a.yaml", "/p/__selected/a.png"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			moves, notes := reverseMoves(1, "/p", tc.journal, tc.facts, func(p string) bool { return slices.Contains(tc.taken, p) })
			var got, left []string
			for _, m := range moves {
				got = append(got, m.Src+" -> "+m.Dst)
				if m.Kind != screend.MoveFile || *m.GroupID != 1 {
					t.Errorf("move %+v: want a move of group 1", m)
				}
			}
			for _, n := range notes {
				left = append(left, n.Path)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("moves %q, want %q", got, tc.want)
			}
			if !slices.Equal(left, tc.left) {
				t.Errorf("left %q, want %q", left, tc.left)
			}
			// Only a moved image keeps its image id: outputs are not images.
			for _, m := range moves {
				if (m.ImageID != nil) != (m.Dst == "/p/a.png" || m.Dst == "/p/a_2.png") {
					t.Errorf("move to %s has image id %v", m.Dst, m.ImageID)
				}
			}
		})
	}
}
