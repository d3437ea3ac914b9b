// Package inventory takes stock of the files under a folder (name and
// sha256 of every regular file, __ output folders included) and compares
// two inventories by content: a file the daemon moved (into __selected,
// __quarantine, ...) still counts, a file whose content is gone is lost, a
// content present more often than before is duplicated, and a content that
// was never there is extra (a half-written file, say).
package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// File is one file of an inventory.
type File struct {
	// Path is relative to the inventoried folder, with forward slashes.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Inventory is every regular file under a folder, sorted by path.
type Inventory []File

// Take inventories dir. Symbolic links and other non-regular files are
// skipped.
func Take(dir string) (Inventory, error) {
	var inv Inventory
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		sum, size, err := hashFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		inv = append(inv, File{Path: filepath.ToSlash(rel), Size: size, SHA256: sum})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inventory %s: %w", dir, err)
	}
	slices.SortFunc(inv, func(a, b File) int {
		if a.Path < b.Path {
			return -1
		}
		if a.Path > b.Path {
			return 1
		}
		return 0
	})
	return inv, nil
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Diff is the difference between two inventories, by content.
type Diff struct {
	// Lost are contents of before that after holds fewer times (one entry
	// per missing copy, with the before path).
	Lost []File `json:"lost"`
	// Duplicated are contents after holds more times than before (one
	// entry per extra copy, with an after path).
	Duplicated []File `json:"duplicated"`
	// Extra are contents after holds that before did not hold at all.
	Extra []File `json:"extra"`
	// Moved counts files whose content is present but under another path.
	Moved int `json:"moved"`
	// Before and After are the file counts.
	Before int `json:"before"`
	After  int `json:"after"`
}

// OK tells whether nothing was lost, duplicated or added.
func (d Diff) OK() bool { return len(d.Lost) == 0 && len(d.Duplicated) == 0 && len(d.Extra) == 0 }

// String summarises d in one line.
func (d Diff) String() string {
	return fmt.Sprintf("%d files before, %d after: %d lost, %d duplicated, %d extra, %d moved",
		d.Before, d.After, len(d.Lost), len(d.Duplicated), len(d.Extra), d.Moved)
}

// Compare compares the multisets of contents of before and after.
func Compare(before, after Inventory) Diff {
	d := Diff{Before: len(before), After: len(after)}
	b := map[string][]File{}
	for _, f := range before {
		b[f.SHA256] = append(b[f.SHA256], f)
	}
	a := map[string][]File{}
	for _, f := range after {
		a[f.SHA256] = append(a[f.SHA256], f)
	}
	for sum, bs := range b {
		as := a[sum]
		if len(as) < len(bs) {
			d.Lost = append(d.Lost, bs[len(as):]...)
		}
		// Moves: copies under a new path, as many as both a before path
		// that is gone and an after path that is new allow.
		bp, ap := map[string]bool{}, map[string]bool{}
		for _, f := range bs {
			bp[f.Path] = true
		}
		for _, f := range as {
			ap[f.Path] = true
		}
		gone, added := 0, 0
		for p := range bp {
			if !ap[p] {
				gone++
			}
		}
		for p := range ap {
			if !bp[p] {
				added++
			}
		}
		d.Moved += min(gone, added)
	}
	for sum, as := range a {
		bs, ok := b[sum]
		switch {
		case !ok:
			d.Extra = append(d.Extra, as...)
		case len(as) > len(bs):
			d.Duplicated = append(d.Duplicated, as[len(bs):]...)
		}
	}
	sortFiles(d.Lost)
	sortFiles(d.Duplicated)
	sortFiles(d.Extra)
	return d
}

func sortFiles(fs []File) {
	slices.SortFunc(fs, func(a, b File) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
}
