package inventory

import (
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTakeIncludesOutputFolders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, dir, "p/a.png", "a")
	write(t, dir, "p/__quarantine/b.png", "b")
	write(t, dir, "p/.hidden", "h")
	inv, err := Take(dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range inv {
		paths = append(paths, f.Path)
	}
	want := []string{"p/.hidden", "p/__quarantine/b.png", "p/a.png"}
	if len(paths) != len(want) {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	for i := range want {
		if paths[i] != want[i] {
			t.Fatalf("paths %v, want %v", paths, want)
		}
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	f := func(path, sum string) File { return File{Path: path, SHA256: sum} }
	tests := []struct {
		name                    string
		before, after           Inventory
		lost, dup, extra, moved int
	}{
		{"identical", Inventory{f("a", "1"), f("b", "2")}, Inventory{f("a", "1"), f("b", "2")}, 0, 0, 0, 0},
		{"moved", Inventory{f("p/a", "1"), f("p/b", "2")}, Inventory{f("p/__selected/a", "1"), f("p/b", "2")}, 0, 0, 0, 1},
		{"renamed on clash", Inventory{f("p/a", "1")}, Inventory{f("p/__delete_staging/a_1", "1")}, 0, 0, 0, 1},
		{"lost", Inventory{f("a", "1"), f("b", "2")}, Inventory{f("a", "1")}, 1, 0, 0, 0},
		{"duplicated", Inventory{f("a", "1")}, Inventory{f("a", "1"), f("__cropped/a", "1")}, 0, 1, 0, 0},
		{"extra half-written", Inventory{f("a", "1")}, Inventory{f("a", "1"), f("__cropped/a", "9")}, 0, 0, 1, 0},
		{"same content twice kept", Inventory{f("a", "1"), f("b", "1")}, Inventory{f("x/a", "1"), f("b", "1")}, 0, 0, 0, 1},
		{"same content twice one lost", Inventory{f("a", "1"), f("b", "1")}, Inventory{f("b", "1")}, 1, 0, 0, 0},
		{"empty", nil, nil, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := Compare(tt.before, tt.after)
			if len(d.Lost) != tt.lost || len(d.Duplicated) != tt.dup || len(d.Extra) != tt.extra || d.Moved != tt.moved {
				t.Fatalf("Compare = %s, want %d lost, %d duplicated, %d extra, %d moved", d, tt.lost, tt.dup, tt.extra, tt.moved)
			}
			if d.OK() != (tt.lost+tt.dup+tt.extra == 0) {
				t.Fatalf("OK() = %v for %s", d.OK(), d)
			}
		})
	}
}

func TestTakeAndCompareOnDisk(t *testing.T) {
	t.Parallel()
	before, after := t.TempDir(), t.TempDir()
	write(t, before, "p/x.png", "x")
	write(t, before, "p/x.yaml", "y")
	write(t, after, "p/__selected/x.png", "x")
	write(t, after, "p/__selected/x.yaml", "y")
	b, err := Take(before)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Take(after)
	if err != nil {
		t.Fatal(err)
	}
	d := Compare(b, a)
	if !d.OK() || d.Moved != 2 {
		t.Fatalf("Compare = %s, want OK with 2 moved", d)
	}
}
