package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"screend"
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

func TestFreeStemKeepsCompanionsTogether(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"x.png", "x_1.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reserved := map[string]bool{}
	// x is taken by x.png, x_1 by x_1.yaml: the image and its .yaml get x_2.
	if got := freeStem(dir, "x", []string{".png", ".yaml"}, reserved); got != filepath.Join(dir, "x_2") {
		t.Errorf("free stem %s, want x_2", got)
	}
	// Reserved names count as taken within one plan.
	if got := freeStem(dir, "x", []string{".png", ".yaml"}, reserved); got != filepath.Join(dir, "x_3") {
		t.Errorf("second free stem %s, want x_3", got)
	}
}
