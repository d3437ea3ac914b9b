package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"screend"

	"github.com/fsnotify/fsnotify"

	"screend/internal/progress"
	"screend/scoring/group"
	"screend/sql"
)

// watcher finds complete image files under the roots and records them.
//
// fsnotify is only a hint that something changed: every root is scanned at
// start, again when the kernel's event queue overflowed, and every
// ScanInterval, so files are found even on file systems without inotify
// and after the daemon was down. On Linux a file is taken the moment its
// writer closes it (inotify's IN_CLOSE_WRITE) or it is renamed into a
// watched folder (IN_MOVED_TO), at the size and mtime it had then. Files
// found by scans (network file systems, files dropped while the daemon was
// down) are taken once their size and mtime have stayed unchanged for
// StableFor (a file with an mtime older than that is taken at once). A
// writer that closes and reopens a file makes it change again: it is then
// recorded again at its next close, and the pipeline, which checks size and
// mtime before decoding, releases it to be processed again.
type watcher struct {
	cfg     Options
	db      *sql.DB
	log     *slog.Logger
	metrics *Metrics
	// recorded is called with the projects that got new files.
	recorded func(projects []int64)
	// ready is called once the first scan is done and every folder watched.
	ready func()
	// instance returns the id of the running instance, under which the
	// number of files waiting is published.
	instance func() int32

	known    map[string]sql.FileStat // recorded files by path
	pending  map[string]*candidate   // files seen but not yet stable
	projects map[string]int64        // project folder path -> id
	fsw      *fsnotify.Watcher
	closes   *closeWatcher // nil where close-write events are unavailable
	// scanning reports the progress of the first scan; nil afterwards.
	scanning *progress.Log
	// published is the number of files waiting last published, and under
	// which instance; goneChecked is when gone files were last looked up.
	published   int
	publishedBy int32
	goneChecked time.Time
}

// candidate is a file waiting to be stable.
type candidate struct {
	root, project string
	size          int64
	mtime         time.Time
	since         time.Time // when size and mtime were last seen changing
	closed        bool      // its writer closed it (or it was renamed into place) at this size and mtime
	// failures counts attempts to record the file that failed; it is not
	// tried again before retryAt.
	failures int
	retryAt  time.Time
}

// pollInterval is how often files waiting to be stable are looked at.
const pollInterval = 250 * time.Millisecond

// closedDelay gathers the files closed within it into one recording.
const closedDelay = 20 * time.Millisecond

func newWatcher(cfg Options, db *sql.DB, log *slog.Logger, m *Metrics, recorded func([]int64)) *watcher {
	return &watcher{
		cfg: cfg, db: db, log: log, metrics: m, recorded: recorded,
		known:    map[string]sql.FileStat{},
		pending:  map[string]*candidate{},
		projects: map[string]int64{},
	}
}

// Run watches until ctx ends.
func (w *watcher) Run(ctx context.Context) error {
	fsw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return err
	}
	defer fsw.Close()
	w.fsw = fsw
	w.goneChecked = time.Now()
	if cw, err := newCloseWatcher(); err != nil {
		w.log.Warn("no close-write events; files are taken when their size and mtime stay unchanged", "stable_for", w.cfg.StableFor, "err", err)
	} else {
		w.closes = cw
		var reader sync.WaitGroup
		reader.Go(cw.Run)
		defer reader.Wait()
		defer cw.Close()
	}
	for _, root := range w.cfg.Inbox {
		known, err := w.db.KnownFiles(ctx, root)
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while starting
			}
			return err
		}
		for p, f := range known {
			w.known[p] = f
		}
	}
	// The first scan of a large inbox takes a while: it reports progress.
	w.scanning = progress.NewLog(w.log, "first scan", 0)
	w.scanAll(ctx)
	w.scanning.Done()
	w.scanning = nil
	w.log.Info("watching", "inbox", strings.Join(w.cfg.Inbox, ","), "known_files", len(w.known))
	if w.ready != nil {
		w.ready()
	}

	scan := time.NewTimer(w.cfg.ScanInterval)
	defer scan.Stop()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	takeClosed := time.NewTimer(closedDelay)
	takeClosed.Stop()
	var closedEvents <-chan string
	var closeOverflow <-chan struct{}
	if w.closes != nil {
		closedEvents, closeOverflow = w.closes.Closed, w.closes.Overflow
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-fsw.Events:
			w.handle(ctx, ev)
		case err := <-fsw.Errors:
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Warn("file events overflowed; rescanning")
				w.scanAll(ctx)
			} else {
				w.log.Warn("watch error", "err", err)
			}
		case path := <-closedEvents:
			if w.closedFile(path) {
				takeClosed.Reset(closedDelay)
			}
		case <-closeOverflow:
			w.log.Warn("close-write events overflowed; rescanning")
			w.scanAll(ctx)
		case <-takeClosed.C:
			w.takeStable(ctx)
		case <-poll.C:
			w.takeStable(ctx)
		case <-scan.C:
			w.forgetGone(ctx)
			w.scanAll(ctx)
			scan.Reset(w.cfg.ScanInterval)
		}
	}
}

// handle looks at the path of one event: a new folder is watched and
// scanned, a file becomes a candidate.
func (w *watcher) handle(ctx context.Context, ev fsnotify.Event) {
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		// Whatever comes to this path next is looked at afresh (a file
		// copied back with the same size and mtime included).
		delete(w.pending, ev.Name)
		delete(w.known, ev.Name)
		return
	}
	root, project, ok := w.locate(ev.Name)
	if !ok {
		return
	}
	info, err := os.Lstat(ev.Name)
	if err != nil {
		return
	}
	if info.IsDir() {
		w.scanDir(ctx, root, ev.Name)
		return
	}
	w.consider(root, project, ev.Name, info)
}

// closedFile marks a file closed by its writer (or renamed into place) as
// complete at its current size and mtime, and tells whether it became a
// candidate to take.
func (w *watcher) closedFile(path string) bool {
	root, project, ok := w.locate(path)
	if !ok {
		return false
	}
	info, err := os.Lstat(path)
	if err != nil {
		return false
	}
	w.consider(root, project, path, info)
	c, ok := w.pending[path]
	if ok {
		c.closed = true
	}
	return ok
}

// locate splits path into its root and project folder name, and tells
// whether the path is one screend looks at.
func (w *watcher) locate(path string) (root, project string, ok bool) {
	root, rel, ok := inboxPath(w.cfg.Inbox, path)
	if !ok {
		return "", "", false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	for _, p := range parts {
		if screend.Ignored(p) {
			return "", "", false
		}
	}
	return root, parts[0], true
}

// inboxPath returns the watched root that holds path and the path relative
// to it (project folder first).
func inboxPath(roots []string, path string) (root, rel string, ok bool) {
	for _, r := range roots {
		rel, err := filepath.Rel(r, path)
		if err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			return r, rel, true
		}
	}
	return "", "", false
}

// ResolveRoot returns the folder a watched root really is: absolute, with
// symlinks resolved (a root that is a symlink would otherwise be walked as
// a single file and look empty). It creates a root that does not exist.
func ResolveRoot(root string) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("create inbox %s: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(root)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		return "", fmt.Errorf("resolve inbox %s: %w", root, err)
	}
	return real, nil
}

// scanAll scans every root.
func (w *watcher) scanAll(ctx context.Context) {
	start := time.Now()
	for _, root := range w.cfg.Inbox {
		w.scanDir(ctx, root, root)
	}
	w.takeStable(ctx)
	w.log.Debug("scan done", "duration", time.Since(start), "known_files", len(w.known), "waiting", len(w.pending))
}

// scanDir walks dir (a root or a folder inside one), watching every folder
// it enters and considering every file.
func (w *watcher) scanDir(ctx context.Context, root, dir string) {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			w.log.Warn("scan", "path", path, "err", err)
			return nil
		}
		if path != root && screend.Ignored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if err := w.fsw.Add(path); err != nil {
				w.log.Warn("cannot watch folder; the periodic scan still covers it", "path", path, "err", err)
			}
			if w.closes != nil {
				if err := w.closes.Add(path); err != nil {
					w.log.Warn("cannot watch folder for close-write; its files wait to be stable", "path", path, "err", err)
				}
			}
			return nil
		}
		_, project, ok := w.locate(path)
		if !ok || project == d.Name() { // files directly in a root belong to no project
			return nil
		}
		if !group.IsImage(d.Name()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if w.scanning != nil {
			w.scanning.Add(1)
		}
		w.consider(root, project, path, info)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		w.log.Warn("scan", "dir", dir, "err", err)
	}
}

// consider makes a regular image file a candidate unless it is recorded
// with the same size and mtime.
func (w *watcher) consider(root, project, path string, info fs.FileInfo) {
	if !info.Mode().IsRegular() || !group.IsImage(info.Name()) || filepath.Dir(path) == root {
		return
	}
	if k, ok := w.known[path]; ok && k.Size == info.Size() && k.MTime.Equal(mtime(info)) {
		return
	}
	if c, ok := w.pending[path]; ok {
		if c.size != info.Size() || !c.mtime.Equal(mtime(info)) {
			c.size, c.mtime, c.since, c.closed = info.Size(), mtime(info), time.Now(), false
		}
		return
	}
	w.pending[path] = &candidate{root: root, project: project, size: info.Size(), mtime: mtime(info), since: time.Now()}
}

// takeStable records the candidates whose size and mtime have not changed
// for StableFor, then publishes how many files are still waiting.
func (w *watcher) takeStable(ctx context.Context) {
	defer w.publishWaiting(ctx)
	now := time.Now()
	var files []sql.NewFile
	for path, c := range w.pending {
		if now.Before(c.retryAt) {
			continue
		}
		info, err := os.Lstat(path)
		if err != nil {
			delete(w.pending, path)
			continue
		}
		if info.Size() != c.size || !mtime(info).Equal(c.mtime) {
			c.size, c.mtime, c.since, c.closed = info.Size(), mtime(info), now, false
			continue
		}
		if !c.closed && now.Sub(c.since) < w.cfg.StableFor && now.Sub(c.mtime) < w.cfg.StableFor {
			continue
		}
		projectID, err := w.project(ctx, c.root, c.project)
		if err != nil {
			w.log.Error("record project", "project", sql.ReadablePath(c.project), "err", err)
			w.failed(c, now)
			continue
		}
		rel, _ := filepath.Rel(filepath.Join(c.root, c.project), path)
		files = append(files, sql.NewFile{
			ProjectID: projectID, Path: path, RelPath: rel, FileName: filepath.Base(path),
			Size: c.size, MTime: c.mtime, Stage: group.Parse(filepath.Base(path)).Stage,
		})
	}
	if len(files) == 0 {
		return
	}
	// Recorded in the rule's sort order, so that files found together count
	// as arriving in order (see group.Regroup).
	slices.SortFunc(files, func(a, b sql.NewFile) int {
		return group.Parse(a.FileName).Compare(group.Parse(b.FileName))
	})
	const chunk = 1000
	for start := 0; start < len(files); start += chunk {
		part := files[start:min(start+chunk, len(files))]
		recorded, n := w.record(ctx, part, now)
		if len(recorded) == 0 {
			continue
		}
		projects := map[int64]bool{}
		for _, f := range recorded {
			delete(w.pending, f.Path)
			w.known[f.Path] = sql.FileStat{Path: f.Path, Size: f.Size, MTime: f.MTime}
			projects[f.ProjectID] = true
		}
		w.metrics.FilesDiscovered.Add(float64(n))
		touched := make([]int64, 0, len(projects))
		for id := range projects {
			touched = append(touched, id)
		}
		w.recorded(touched)
	}
}

// record records files in one transaction or, if that fails, one by one,
// so that one file the database refuses holds back only itself: it stays
// waiting, is logged, and is tried again later. It returns the files
// recorded and how many rows were new or processed again. A file that an
// instance moved away between the scan and the recording (see
// sql.RecordFiles) is not recorded and no longer waits.
func (w *watcher) record(ctx context.Context, files []sql.NewFile, now time.Time) ([]sql.NewFile, int) {
	moved := map[string]bool{}
	present := func(f sql.NewFile) bool {
		info, err := os.Lstat(f.Path)
		if err != nil || !info.Mode().IsRegular() {
			moved[f.Path] = true
			return false
		}
		return true
	}
	ids, err := w.db.RecordFiles(ctx, files, present)
	if err == nil {
		if len(moved) == 0 {
			return files, len(ids)
		}
		var kept []sql.NewFile
		for _, f := range files {
			if moved[f.Path] {
				w.log.Debug("not recorded: moved away while it was being recorded", "path", sql.ReadablePath(f.Path))
				delete(w.pending, f.Path)
				continue
			}
			kept = append(kept, f)
		}
		return kept, len(ids)
	}
	if len(files) == 1 {
		w.log.Error("record file; trying again later", "path", sql.ReadablePath(files[0].Path), "err", err)
		w.failed(w.pending[files[0].Path], now)
		return nil, 0
	}
	w.log.Warn("record files together; recording them one by one", "files", len(files), "err", err)
	var ok []sql.NewFile
	n := 0
	for _, f := range files {
		if ctx.Err() != nil {
			break
		}
		got, m := w.record(ctx, []sql.NewFile{f}, now)
		ok = append(ok, got...)
		n += m
	}
	return ok, n
}

// failed puts off the next attempt to record a candidate, longer after
// every failure (up to a minute).
func (w *watcher) failed(c *candidate, now time.Time) {
	if c == nil {
		return
	}
	c.failures++
	c.retryAt = now.Add(min(time.Minute, time.Second<<min(c.failures, 6)))
}

// publishWaiting records the number of files seen but not yet recorded,
// which status counts as pending.
func (w *watcher) publishWaiting(ctx context.Context) {
	if w.instance == nil {
		return
	}
	id := w.instance()
	if len(w.pending) == w.published && id == w.publishedBy {
		return
	}
	if err := w.db.SetFilesWaiting(ctx, id, len(w.pending)); err != nil {
		if ctx.Err() == nil {
			w.log.Warn("publish files waiting", "err", err)
		}
		return
	}
	w.published, w.publishedBy = len(w.pending), id
}

// forgetGone forgets the files marked gone since the last look, so that a
// file that comes back at the same path, with the same size and mtime, is
// recorded again.
func (w *watcher) forgetGone(ctx context.Context) {
	since := time.Now()
	for _, root := range w.cfg.Inbox {
		paths, err := w.db.GoneSince(ctx, root, w.goneChecked.Add(-time.Second))
		if err != nil {
			w.log.Warn("look up gone files", "err", err)
			return
		}
		for _, p := range paths {
			delete(w.known, p)
		}
	}
	w.goneChecked = since
}

// project returns the id of a project folder, creating its row once.
func (w *watcher) project(ctx context.Context, root, name string) (int64, error) {
	key := filepath.Join(root, name)
	if id, ok := w.projects[key]; ok {
		return id, nil
	}
	id, err := w.db.EnsureProject(ctx, root, name)
	if err != nil {
		return 0, err
	}
	w.projects[key] = id
	return id, nil
}

// mtime is a file's modification time at the precision PostgreSQL keeps
// (microseconds), so recorded and current times compare equal.
func mtime(info fs.FileInfo) time.Time {
	return info.ModTime().Truncate(time.Microsecond)
}
