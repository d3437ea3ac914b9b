package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"screend"

	"golang.org/x/sys/unix"

	"screend/sql"
)

// mover carries out journaled file operations (sql.Move). Each operation is
// idempotent and can be resumed after a crash at any point: the file system
// tells how far it got. Nothing is overwritten and nothing is deleted, except
// the source of a move once its copy at the destination is verified.
type mover struct {
	db  *sql.DB
	log *slog.Logger
	// crop returns the encoded bytes of src cropped to a normalised box.
	crop func(src string, box []float32) ([]byte, error)
}

// Recover finishes every operation journaled but not done, in order.
func (m *mover) Recover(ctx context.Context) error {
	moves, err := m.db.PlannedMoves(ctx)
	if err != nil {
		return err
	}
	if len(moves) > 0 {
		m.log.Info("finishing interrupted file moves", "count", len(moves))
	}
	for _, mv := range moves {
		if err := m.Do(ctx, mv); err != nil {
			return err
		}
	}
	return nil
}

// Do carries out one journaled operation and records the outcome. It
// returns an error only when the outcome could not be recorded; an
// operation that cannot be done is recorded as failed with its reason.
func (m *mover) Do(ctx context.Context, mv sql.Move) error {
	dst, err := m.do(mv)
	if err != nil {
		m.log.Error("file operation failed", "move_id", mv.ID, "kind", mv.Kind, "src", mv.Src, "dst", mv.Dst, "err", err)
		return m.db.FailMove(ctx, mv.ID, err.Error())
	}
	if dst != mv.Dst {
		m.log.Warn("destination taken, renamed", "move_id", mv.ID, "planned", mv.Dst, "dst", dst)
		if err := m.db.RedirectMove(ctx, mv.ID, dst); err != nil {
			return err
		}
		mv.Dst = dst
	}
	return m.db.FinishMove(ctx, mv)
}

// do performs the operation and returns where its result is, which differs
// from mv.Dst only when that name was taken by another file.
func (m *mover) do(mv sql.Move) (string, error) {
	if err := os.MkdirAll(filepath.Dir(mv.Dst), 0o755); err != nil {
		return "", fmt.Errorf("create folder: %w", err)
	}
	srcOK := exists(mv.Src)
	dstOK := exists(mv.Dst)
	switch mv.Kind {
	case screend.MoveFile:
		switch {
		case !srcOK && dstOK:
			return mv.Dst, nil // renamed before a crash
		case !srcOK:
			return "", fmt.Errorf("source %s vanished", mv.Src)
		case dstOK:
			same, err := sameContent(mv.Src, mv.Dst)
			if err != nil {
				return "", err
			}
			if same { // a copy across file systems finished before a crash
				return mv.Dst, removeVerified(mv.Src, mv.Dst)
			}
			dst := freeName(mv.Dst)
			return dst, moveFile(mv.Src, dst)
		default:
			return mv.Dst, moveFile(mv.Src, mv.Dst)
		}
	case screend.WriteSidecar:
		if dstOK {
			old, err := os.ReadFile(mv.Dst)
			if err != nil {
				return "", fmt.Errorf("read %s: %w", mv.Dst, err)
			}
			if bytes.Equal(old, mv.Content) {
				return mv.Dst, nil
			}
			dst := freeName(mv.Dst)
			return dst, writeNew(dst, bytes.NewReader(mv.Content))
		}
		return mv.Dst, writeNew(mv.Dst, bytes.NewReader(mv.Content))
	case screend.CropFile:
		if dstOK {
			return mv.Dst, nil // written (always through a rename) before a crash
		}
		if !srcOK {
			return "", fmt.Errorf("source %s vanished", mv.Src)
		}
		data, err := m.crop(mv.Src, mv.Crop)
		if err != nil {
			return "", err
		}
		return mv.Dst, writeNew(mv.Dst, bytes.NewReader(data))
	}
	return "", fmt.Errorf("unknown operation %q", mv.Kind)
}

// moveFile renames src to dst without replacing dst; across file systems
// it copies, syncs and verifies before removing src.
func moveFile(src, dst string) error {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if err == nil {
		return syncDir(filepath.Dir(dst))
	}
	if !errors.Is(err, unix.EXDEV) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("rename %s: %w", src, err)
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	err = writeNew(dst, f)
	f.Close()
	if err != nil {
		return err
	}
	return removeVerified(src, dst)
}

// writeNew writes r to a temporary file beside dst, syncs it and links it
// into place, failing rather than replacing an existing dst.
func writeNew(dst string, r io.Reader) error {
	dir := filepath.Dir(dst)
	tmp, err := os.CreateTemp(dir, screend.TempPrefix+"*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer os.Remove(tmp.Name()) // the temporary name only; dst is a link of its own
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", dst, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", dst, err)
	}
	if err := os.Link(tmp.Name(), dst); err != nil {
		return fmt.Errorf("link %s: %w", dst, err)
	}
	return syncDir(dir)
}

// removeVerified removes src after checking dst holds the same bytes.
func removeVerified(src, dst string) error {
	same, err := sameContent(src, dst)
	if err != nil {
		return err
	}
	if !same {
		return fmt.Errorf("copy of %s at %s differs; source kept", src, dst)
	}
	if err := os.Remove(src); err != nil {
		return fmt.Errorf("remove moved source %s: %w", src, err)
	}
	return syncDir(filepath.Dir(src))
}

func sameContent(a, b string) (bool, error) {
	ha, err := fileSHA256(a)
	if err != nil {
		return false, err
	}
	hb, err := fileSHA256(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ha, hb), nil
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

func exists(path string) bool {
	if path == "" {
		return false
	}
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// freeName returns path if nothing is there, else the first of
// stem_1.ext, stem_2.ext, ... that is free.
func freeName(path string) string {
	return freeStem(filepath.Dir(path), splitStem(filepath.Base(path)), []string{filepath.Ext(path)}, nil) + filepath.Ext(path)
}

// freeStem returns the first of stem, stem_1, stem_2, ... in dir for which
// no stem+ext of exts exists on disk or in reserved, so an image and its
// companions keep one stem. The chosen names are added to reserved (when
// not nil). The result includes dir.
func freeStem(dir, stem string, exts []string, reserved map[string]bool) string {
	for n := 0; ; n++ {
		candidate := filepath.Join(dir, stem)
		if n > 0 {
			candidate += "_" + strconv.Itoa(n)
		}
		taken := false
		for _, ext := range exts {
			if reserved[candidate+ext] || exists(candidate+ext) {
				taken = true
				break
			}
		}
		if taken {
			continue
		}
		if reserved != nil {
			for _, ext := range exts {
				reserved[candidate+ext] = true
			}
		}
		return candidate
	}
}

// splitStem returns the name without its last extension.
func splitStem(name string) string {
	return strings.TrimSuffix(name, filepath.Ext(name))
}
