package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"screend"
	"screend/scoring/group"
	"screend/scoring/imagefile"
	"screend/sql"
)

// This file holds every file move: the planner (where each file of a
// decided group goes, a pure function of the group and the folder
// listings) and the mover (carrying out journaled operations, retrying
// those that fail for a reason that can go away).

// nameMax is the longest file name, in bytes, the planner makes (NAME_MAX
// of Linux file systems).
const nameMax = 255

// folders is what the planner knows of the file system: for each folder
// it looked at, the names in it, true for regular files.
type folders map[string]map[string]bool

// taken reports whether path's name is in its folder's listing.
func (f folders) taken(path string) bool {
	_, ok := f[filepath.Dir(path)][filepath.Base(path)]
	return ok
}

// foldersToList are the folders the planner needs listed for g: each
// image's folder (companions) and the project's output folders (free names).
func foldersToList(g sql.DecidedGroup) []string {
	dirs := []string{}
	seen := map[string]bool{}
	add := func(d string) {
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	for _, im := range g.Images {
		add(filepath.Dir(im.Path))
	}
	project := filepath.Join(g.ProjectRoot, g.ProjectName)
	for _, d := range []string{screend.FolderSelected, screend.FolderCropped, screend.FolderOriginals, screend.FolderManualCrop, screend.FolderDeleteStaging} {
		add(filepath.Join(project, d))
	}
	return dirs
}

// listFolders lists dirs; a folder that does not exist (or is not a
// folder: the mover then fails to make it, and retries) is empty.
func listFolders(dirs []string) (folders, error) {
	f := folders{}
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("list %s: %w", d, err)
		}
		names := make(map[string]bool, len(entries))
		for _, e := range entries {
			names[e.Name()] = e.Type().IsRegular()
		}
		f[d] = names
	}
	return f, nil
}

// planMoves returns the file operations that carry out a group's decision:
// the chosen image (with its companions) to __selected, __crop, or cropped
// into __cropped with its original kept in __originals; everything else to
// __delete_staging. Names taken in the listings get a free suffix. An
// error wraps errCannotApply.
func planMoves(g sql.DecidedGroup, listing folders) ([]sql.Move, error) {
	d := g.Decision
	crop, err := decisionBox(d)
	if err != nil {
		return nil, err
	}
	if d.Outcome != screend.OutcomeReject && !containsImage(g.Images, d.ChosenImageID) {
		return nil, fmt.Errorf("%w: chosen image %d is not in group %d", errCannotApply, d.ChosenImageID, g.ID)
	}
	project := filepath.Join(g.ProjectRoot, g.ProjectName)
	reserved := map[string]bool{}
	taken := func(p string) bool { return reserved[p] || listing.taken(p) }
	gid := g.ID
	var moves []sql.Move
	for _, im := range g.Images {
		imageID := im.ID
		name := filepath.Base(im.Path)
		stem, ext := splitStem(name), filepath.Ext(name)
		companions := companionsOf(im.Path, listing)
		exts := []string{ext}
		for _, c := range companions {
			exts = append(exts, strings.TrimPrefix(filepath.Base(c), stem))
		}
		chosen := im.ID == d.ChosenImageID && d.Outcome != screend.OutcomeReject
		if !listing.taken(im.Path) {
			if chosen {
				return nil, fmt.Errorf("%w: chosen image %s is gone (renamed or deleted)", errCannotApply, im.Path)
			}
			continue // nothing to move; the watcher records it gone
		}
		target := screend.FolderDeleteStaging
		if chosen {
			target = targetDir(d.Outcome)
			// The group-level <timestamp>.decision of the old tools travels
			// with the chosen image.
			if ts := group.Parse(name).Timestamp; ts != "" {
				if p := filepath.Join(filepath.Dir(im.Path), ts+".decision"); listing.taken(p) {
					moves = append(moves, sql.Move{GroupID: &gid, Kind: screend.MoveFile, Src: p,
						Dst: filepath.Join(project, target, ts+".decision")})
				}
			}
		}
		if chosen && d.Outcome == screend.OutcomeCrop {
			croppedExt := ext
			if strings.EqualFold(ext, ".webp") {
				croppedExt = ".png" // no WebP encoder: the crop is written as PNG
			}
			newStem, err := freeStem(filepath.Join(project, screend.FolderCropped), stem, append(exts, croppedExt, ".decision"), taken)
			if err != nil {
				return nil, err
			}
			reserve(reserved, newStem, append(exts, croppedExt, ".decision"))
			sidecar, err := decisionSidecar(g, crop)
			if err != nil {
				return nil, err
			}
			moves = append(moves,
				sql.Move{GroupID: &gid, ImageID: &imageID, Kind: screend.CropFile, Src: im.Path, Dst: newStem + croppedExt, Crop: crop},
				sql.Move{GroupID: &gid, Kind: screend.WriteSidecar, Dst: newStem + ".decision", Content: sidecar},
			)
			for i, c := range companions {
				moves = append(moves, sql.Move{GroupID: &gid, Kind: screend.MoveFile, Src: c, Dst: newStem + exts[i+1]})
			}
			orig, err := freeStem(filepath.Join(project, screend.FolderOriginals), stem, []string{ext}, taken)
			if err != nil {
				return nil, err
			}
			reserve(reserved, orig, []string{ext})
			moves = append(moves, sql.Move{GroupID: &gid, ImageID: &imageID, Kind: screend.MoveFile, Src: im.Path, Dst: orig + ext})
			continue
		}
		newStem, err := freeStem(filepath.Join(project, target), stem, exts, taken)
		if err != nil {
			return nil, err
		}
		reserve(reserved, newStem, exts)
		moves = append(moves, sql.Move{GroupID: &gid, ImageID: &imageID, Kind: screend.MoveFile, Src: im.Path, Dst: newStem + ext})
		for i, c := range companions {
			moves = append(moves, sql.Move{GroupID: &gid, Kind: screend.MoveFile, Src: c, Dst: newStem + exts[i+1]})
		}
	}
	return moves, nil
}

// decisionBox checks a decision's crop box: four values in [0,1] with
// x1 < x2 and y1 < y2 for a crop, none otherwise.
func decisionBox(d sql.Decision) ([]float32, error) {
	switch d.Outcome {
	case screend.OutcomeSelect, screend.OutcomeReject, screend.OutcomeManualCrop:
		if d.Crop != nil {
			return nil, fmt.Errorf("%w: outcome %s with a crop box", errCannotApply, d.Outcome)
		}
		return nil, nil
	case screend.OutcomeCrop:
	default:
		return nil, fmt.Errorf("%w: unknown outcome %q", errCannotApply, d.Outcome)
	}
	box := make([]float32, 0, 4)
	for _, v := range d.Crop {
		if v == nil || math.IsNaN(float64(*v)) || *v < 0 || *v > 1 {
			return nil, fmt.Errorf("%w: bad crop box %s", errCannotApply, formatBox(d.Crop))
		}
		box = append(box, *v)
	}
	if len(box) != 4 || box[0] >= box[2] || box[1] >= box[3] {
		return nil, fmt.Errorf("%w: bad crop box %s", errCannotApply, formatBox(d.Crop))
	}
	return box, nil
}

func formatBox(box []*float32) string {
	parts := make([]string, len(box))
	for i, v := range box {
		parts[i] = "NULL"
		if v != nil {
			parts[i] = strconv.FormatFloat(float64(*v), 'g', -1, 32)
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func containsImage(images []sql.ApplyImage, id int64) bool {
	for _, im := range images {
		if im.ID == id {
			return true
		}
	}
	return false
}

// targetDir is where the chosen image of an outcome goes.
func targetDir(outcome screend.OutcomeKind) string {
	switch outcome {
	case screend.OutcomeSelect:
		return screend.FolderSelected
	case screend.OutcomeCrop:
		return screend.FolderCropped
	case screend.OutcomeManualCrop:
		return screend.FolderManualCrop
	}
	return screend.FolderDeleteStaging
}

// companionsOf lists the regular files beside an image with exactly its
// stem and another extension that are not images themselves (shot.yaml,
// shot.caption and shot.decision travel with shot.png; shot.1.yaml does
// not).
func companionsOf(path string, listing folders) []string {
	dir, name := filepath.Dir(path), filepath.Base(path)
	stem := splitStem(name)
	var out []string
	for n, regular := range listing[dir] {
		if n == name || !regular || splitStem(n) != stem || n == stem || group.IsImage(n) {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	slices.Sort(out) // map order is random; plans are not
	return out
}

// decisionSidecar is the .decision JSON written beside a cropped image, in
// the format of the workflow's tools.
func decisionSidecar(g sql.DecidedGroup, crop []float32) ([]byte, error) {
	route := "human"
	if g.Decision.Automatic {
		route = "auto"
	}
	box := make([]float64, len(crop))
	for i, v := range crop {
		box[i] = math.Round(float64(v)*1e6) / 1e6
	}
	return json.MarshalIndent(map[string]any{
		"group_id":       strconv.FormatInt(g.ID, 10),
		"project_id":     g.ProjectName,
		"needs_crop":     true,
		"ai_route":       route,
		"ai_crop_coords": box,
		"decided_by":     g.Decision.DecidedBy,
		"confidence":     g.Decision.Confidence,
		"model_id":       g.Decision.ModelID,
	}, "", "  ")
}

// maxSuffixes bounds the search for a free name.
const maxSuffixes = 100_000

// freeStem returns the first of stem, stem_1, stem_2, ... in dir for which
// no stem+ext of exts is taken, so an image and its companions keep one
// stem. A stem too long for the longest name is shortened (on a UTF-8
// boundary when it is UTF-8) so that every name fits in nameMax bytes. The
// result includes dir.
func freeStem(dir, stem string, exts []string, taken func(string) bool) (string, error) {
	longestExt := 0
	for _, ext := range exts {
		longestExt = max(longestExt, len(ext))
	}
	for n := 0; n < maxSuffixes; n++ {
		suffix := ""
		if n > 0 {
			suffix = "_" + strconv.Itoa(n)
		}
		room := nameMax - longestExt - len(suffix)
		if room < 1 {
			return "", fmt.Errorf("%w: extension %d bytes long leaves no room for a name", errCannotApply, longestExt)
		}
		candidate := filepath.Join(dir, shorten(stem, room)+suffix)
		free := true
		for _, ext := range exts {
			if taken(candidate + ext) {
				free = false
				break
			}
		}
		if free {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("no free name for %s in %s after %d tries", stem, dir, maxSuffixes)
}

// shorten cuts s to at most n bytes, on a rune boundary when s is UTF-8.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if !utf8.ValidString(s) {
		return s[:n]
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func reserve(reserved map[string]bool, stem string, exts []string) {
	for _, ext := range exts {
		reserved[stem+ext] = true
	}
}

// splitStem returns the name without its last extension.
func splitStem(name string) string {
	return strings.TrimSuffix(name, filepath.Ext(name))
}

// onDisk reports whether something is at path; a path that cannot be
// looked at (permissions) counts as taken.
func onDisk(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// freeName returns path if nothing is there, else the first free of
// stem_1.ext, stem_2.ext, ..., shortened to fit.
func freeName(path string) (string, error) {
	ext := filepath.Ext(path)
	stem, err := freeStem(filepath.Dir(path), splitStem(filepath.Base(path)), []string{ext}, onDisk)
	if err != nil {
		return "", err
	}
	return stem + ext, nil
}

// mover carries out journaled file operations (sql.Move). Each operation is
// idempotent and can be resumed after a crash at any point: the file system
// tells how far it got. Nothing is overwritten and nothing is deleted, except
// the source of a move once its copy at the destination is verified. An
// operation that fails for a reason that can go away (a permission, a full
// disk) is retried with backoff; one that never can (its source is gone) is
// given up, and its group fails.
type mover struct {
	db      *sql.DB
	log     *slog.Logger
	metrics *Metrics
	// crop returns the encoded bytes of src cropped to a normalised box.
	crop func(ctx context.Context, src string, box []float32) ([]byte, error)
	// fileMode is the mode of files written from nothing (sidecars): 0666
	// less the process's umask.
	fileMode fs.FileMode
}

func newMover(db *sql.DB, log *slog.Logger, metrics *Metrics, maxPixels int64, budget *imagefile.Budget) *mover {
	return &mover{db: db, log: log, metrics: metrics, crop: cropImage(maxPixels, budget), fileMode: 0o666 &^ processUmask()}
}

// errPermanent marks a failure that retrying cannot fix.
var errPermanent = errors.New("cannot be done")

// Retry backoff: the first retry after moveRetryMin, doubling up to
// moveRetryMax.
const (
	moveRetryMin = time.Second
	moveRetryMax = 5 * time.Minute
)

// moveBackoff is the wait before attempt n+1 after n failed attempts.
func moveBackoff(n int) time.Duration {
	d := moveRetryMin
	for i := 1; i < n && d < moveRetryMax; i++ {
		d *= 2
	}
	return min(d, moveRetryMax)
}

// Do carries out one journaled operation and records the outcome; it
// reports whether the operation is done. It returns an error only when the
// outcome could not be recorded (the journal row stays planned and a later
// round finds it done); an operation that cannot be done is recorded as
// waiting for a retry or as failed, with its reason.
func (m *mover) Do(ctx context.Context, mv sql.Move) (bool, error) {
	dst, err := m.do(ctx, mv)
	if err != nil {
		if errors.Is(err, errPermanent) {
			m.log.Error("file operation failed for good", "move_id", mv.ID, "kind", mv.Kind, "src", mv.Src, "dst", mv.Dst, "err", err)
			m.metrics.MoveFailures.WithLabelValues("final").Inc()
			return false, m.db.FailMove(ctx, mv, err.Error())
		}
		wait := moveBackoff(mv.Attempts + 1)
		m.log.Warn("file operation failed; retrying", "move_id", mv.ID, "kind", mv.Kind, "src", mv.Src, "dst", mv.Dst,
			"attempts", mv.Attempts+1, "retry_in", wait, "err", err)
		m.metrics.MoveFailures.WithLabelValues("retry").Inc()
		return false, m.db.RetryMove(ctx, mv.ID, err.Error(), wait)
	}
	if dst != mv.Dst {
		m.log.Warn("destination taken, renamed", "move_id", mv.ID, "planned", mv.Dst, "dst", dst)
		if err := m.db.RedirectMove(ctx, mv.ID, dst); err != nil {
			return true, err
		}
		mv.Dst = dst
	}
	if err := m.db.FinishMove(ctx, mv); err != nil {
		return true, err
	}
	m.metrics.MovesDone.Inc()
	return true, nil
}

// do performs the operation and returns where its result is, which differs
// from mv.Dst only when that name was taken by another file.
func (m *mover) do(ctx context.Context, mv sql.Move) (string, error) {
	if err := mkdirLikeParent(filepath.Dir(mv.Dst)); err != nil {
		return "", err
	}
	srcOK := mv.Src != "" && onDisk(mv.Src)
	dstOK := onDisk(mv.Dst)
	switch mv.Kind {
	case screend.MoveFile:
		switch {
		case !srcOK && dstOK:
			return mv.Dst, nil // renamed before a crash
		case !srcOK:
			return "", fmt.Errorf("%w: source %s vanished", errPermanent, mv.Src)
		case dstOK:
			same, err := sameContent(mv.Src, mv.Dst)
			if err != nil {
				return "", err
			}
			if same { // a copy across file systems finished before a crash
				return mv.Dst, removeVerified(mv.Src, mv.Dst)
			}
			dst, err := freeName(mv.Dst)
			if err != nil {
				return "", err
			}
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
			dst, err := freeName(mv.Dst)
			if err != nil {
				return "", err
			}
			return dst, writeNew(dst, bytes.NewReader(mv.Content), m.fileMode)
		}
		return mv.Dst, writeNew(mv.Dst, bytes.NewReader(mv.Content), m.fileMode)
	case screend.CropFile:
		if dstOK {
			return mv.Dst, nil // written (always through a rename) before a crash
		}
		if !srcOK {
			return "", fmt.Errorf("%w: source %s vanished", errPermanent, mv.Src)
		}
		info, err := os.Stat(mv.Src)
		if err != nil {
			return "", fmt.Errorf("stat %s: %w", mv.Src, err)
		}
		data, err := m.crop(ctx, mv.Src, mv.Crop)
		if err != nil && ctx.Err() != nil {
			return "", fmt.Errorf("crop %s: %w", mv.Src, err) // stopped waiting for the decode budget: try again
		}
		if err != nil {
			return "", fmt.Errorf("%w: %w", errPermanent, err)
		}
		return mv.Dst, writeNew(mv.Dst, bytes.NewReader(data), info.Mode().Perm())
	}
	return "", fmt.Errorf("%w: unknown operation %q", errPermanent, mv.Kind)
}

// mkdirLikeParent creates dir (and its parents) with the permissions of
// the folder it is made in, setgid included, so that output folders are as
// open to the inbox's group as the project folder is.
func mkdirLikeParent(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirLikeParent(parent); err != nil {
			return err
		}
	}
	pinfo, err := os.Stat(parent)
	if err != nil {
		return fmt.Errorf("create folder %s: %w", dir, err)
	}
	if err := os.Mkdir(dir, 0o700); errors.Is(err, fs.ErrExist) {
		return nil // made meanwhile by another instance
	} else if err != nil {
		return fmt.Errorf("create folder %s: %w", dir, err)
	}
	mode := pinfo.Mode() & (fs.ModePerm | fs.ModeSetgid)
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("set mode of folder %s: %w", dir, err)
	}
	return nil
}

// processUmask reads the process's umask without changing it (changing it
// would race with files created meanwhile).
func processUmask() fs.FileMode {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o022
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return fs.FileMode(n)
			}
		}
	}
	return 0o022
}

// moveFile renames src to dst without replacing dst; across file systems
// it copies (keeping src's mode), syncs and verifies before removing src.
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
	info, err := f.Stat()
	if err == nil {
		err = writeNew(dst, f, info.Mode().Perm())
	}
	f.Close()
	if err != nil {
		return err
	}
	return removeVerified(src, dst)
}

// writeNew writes r to a temporary file beside dst with the given mode,
// syncs it and links it into place, failing rather than replacing an
// existing dst.
func writeNew(dst string, r io.Reader, mode fs.FileMode) error {
	dir := filepath.Dir(dst)
	tmp, err := os.CreateTemp(dir, screend.TempPrefix+"*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer os.Remove(tmp.Name()) // the temporary name only; dst is a link of its own
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("set mode of %s: %w", dst, err)
	}
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

// cropImage decodes src (imagefile.Open: native decoders first, its memory
// held from budget) and returns it cropped to the normalised box, encoded
// as PNG, or as JPEG (quality 95) when src is a JPEG. A box smaller than
// screend.MinCropPixels a side is refused. A PNG's pixels are Go's
// decoder's exactly; a JPEG decoded by libjpeg-turbo may differ from Go's
// decode by one level in a few samples, far below what encoding the crop
// at quality 95 changes.
func cropImage(maxPixels int64, budget *imagefile.Budget) func(ctx context.Context, src string, box []float32) ([]byte, error) {
	return func(ctx context.Context, src string, box []float32) ([]byte, error) {
		if len(box) != 4 {
			return nil, fmt.Errorf("crop box has %d values, want 4", len(box))
		}
		img, info, err := imagefile.Open(ctx, src, maxPixels, budget)
		if err != nil {
			return nil, fmt.Errorf("decode %s for cropping: %w", src, err)
		}
		defer imagefile.Recycle(img) // after encoding: the crop shares its pixels
		b := img.Bounds()
		r := screend.Box{float64(box[0]), float64(box[1]), float64(box[2]), float64(box[3])}.Rect(b.Dx(), b.Dy()).Add(b.Min)
		if r.Dx() < screend.MinCropPixels || r.Dy() < screend.MinCropPixels {
			return nil, fmt.Errorf("crop box %v is %dx%d pixels of a %dx%d image, under %d a side",
				box, r.Dx(), r.Dy(), b.Dx(), b.Dy(), screend.MinCropPixels)
		}
		cropper, ok := img.(interface {
			SubImage(image.Rectangle) image.Image
		})
		if !ok {
			return nil, fmt.Errorf("cannot crop a %T", img)
		}
		sub := cropper.SubImage(r)
		var buf bytes.Buffer
		if info.Format == imagefile.FormatJPEG {
			err = jpeg.Encode(&buf, sub, &jpeg.Options{Quality: 95})
		} else {
			err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, sub)
		}
		if err != nil {
			return nil, fmt.Errorf("encode crop of %s: %w", src, err)
		}
		return buf.Bytes(), nil
	}
}
