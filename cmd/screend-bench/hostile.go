package main

// The hostile-input suite of issue 10: every numbered item is a case that
// sets up a fresh database and inbox, drives the real `screend run` binary
// into the situation the item describes and checks that the daemon gets
// out of it. Cases register themselves with registerHostile from the files
// hostile*.go (hostile.go: intake items; hostile_apply.go: moves, SQL and
// permissions), so that each half of the issue adds its own.

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"screend/scoring/imagefile/imagefiletest"
	"slices"
	"strings"
	"syscall"
	"time"
)

// hostileCase is one item of issue 10 as a case against the real daemon.
type hostileCase struct {
	// Item is the item number ("1", "15a", ...).
	Item string
	// Name says in a few words what the case does.
	Name string
	// Env are extra SCREEND_* settings for the daemons the case starts.
	Env []string
	// Run drives the daemon through the case and returns what it measured;
	// an error means the case failed.
	Run func(ctx context.Context, hc *hostileRun) (string, error)
}

// hostileCases are the cases, in the order registered.
var hostileCases []hostileCase

// registerHostile adds cases to the suite; call it from init.
func registerHostile(cs ...hostileCase) { hostileCases = append(hostileCases, cs...) }

// HostileResult is one case and its outcome.
type HostileResult struct {
	Item      string  `json:"item"`
	Name      string  `json:"name"`
	OK        bool    `json:"ok"`
	Detail    string  `json:"detail"`
	Seconds   float64 `json:"seconds"`
	PeakRSSMB float64 `json:"peak_rss_mb"`
}

// hostileRun is what a case works with: a harness (fresh database and
// inbox) and the daemons it starts.
type hostileRun struct {
	*harness
	env     []string
	daemons []*daemonProc
}

// start starts a daemon with the case's settings and any extra ones.
func (hc *hostileRun) start(extra ...string) (*daemonProc, error) {
	d, err := hc.Start(append(slices.Clone(hc.env), extra...)...)
	if err == nil {
		hc.daemons = append(hc.daemons, d)
	}
	return d, err
}

// exec runs SQL on the case's database.
func (hc *hostileRun) exec(ctx context.Context, sql string, args ...any) error {
	conn, err := connect(ctx, hc.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// queryRow runs a query on the case's database and scans its one row.
func (hc *hostileRun) queryRow(ctx context.Context, sql string, args []any, dest ...any) error {
	conn, err := connect(ctx, hc.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql, args...).Scan(dest...)
}

// until polls cond every 200 ms until it holds, ctx ends or timeout
// passes; what names the condition in the error.
func until(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %s waiting for %s", errTimeout, timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// idle waits until status says pending 0 with at least images recorded.
func (hc *hostileRun) idle(ctx context.Context, images int) error {
	return hc.WaitIdle(ctx, images, 90*time.Second)
}

// state returns the state and reason of the one image with file_name name
// (the newest if there are several).
func (hc *hostileRun) state(ctx context.Context, name string) (state, reason string) {
	err := hc.queryRow(ctx, `SELECT state, coalesce(reason, '') FROM screend.images WHERE file_name = $1 ORDER BY image_id DESC LIMIT 1`,
		[]any{name}, &state, &reason)
	if err != nil {
		return "", err.Error()
	}
	return state, reason
}

// recordFile records, as the watcher of an instance would, a file at path
// of the project under root with the size and mtime of src, while no
// daemon runs: path need not exist (yet, or any more).
func (hc *hostileRun) recordFile(ctx context.Context, root, project, path, src string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	return hc.exec(ctx, `
		WITH p AS (
			INSERT INTO screend.projects (root, name) VALUES ($1, $2)
			ON CONFLICT (root, name) DO UPDATE SET name = excluded.name RETURNING project_id)
		INSERT INTO screend.images (project_id, path, rel_path, file_name, size, mtime, stage)
		SELECT project_id, $3, $4, $4, $5, $6, 1 FROM p`,
		root, project, path, filepath.Base(path), st.Size(), st.ModTime().Truncate(time.Microsecond))
}

// migrate applies the migrations to the case's database.
func (hc *hostileRun) migrate(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, hc.bin, "--config", filepath.Join(hc.work, "screend.toml"), "migrate")
	cmd.Env = append(os.Environ(), hc.harness.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("screend migrate: %w: %s", err, out)
	}
	return nil
}

// logHas tells whether any daemon's log holds s.
func (hc *hostileRun) logHas(s string) bool {
	for _, d := range hc.daemons {
		if b, err := os.ReadFile(d.Log); err == nil && bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

type hostileFlags struct {
	screend string
	work    string
	keep    bool
	items   string
	out     string
}

func hostileCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hostile", flag.ContinueOnError)
	var f hostileFlags
	fs.StringVar(&f.screend, "screend", "", "prebuilt screend binary (default: go build ./cmd/screend)")
	fs.StringVar(&f.work, "work", "", "parent folder of the work folders")
	fs.BoolVar(&f.keep, "keep", false, "keep work folders and databases")
	fs.StringVar(&f.items, "items", "", "comma-separated items to run (default: all)")
	fs.StringVar(&f.out, "out", "", "write the JSON report to FILE and the Markdown beside it")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	bin, cleanup, err := screendBinary(ctx, f.screend, f.work)
	if err != nil {
		return err
	}
	defer cleanup()
	f.screend = bin
	var want []string
	if f.items != "" {
		want = strings.Split(f.items, ",")
	}
	rep := newReport(append([]string{"hostile"}, args...))
	failed := false
	for _, c := range hostileCases {
		if want != nil && !slices.Contains(want, c.Item) {
			continue
		}
		res := runHostile(ctx, rep, f, c)
		rep.Hostile = append(rep.Hostile, res)
		fmt.Fprintf(stderr, "item %s %s: ok=%v %s\n", c.Item, c.Name, res.OK, res.Detail)
		if !res.OK {
			failed = true
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := rep.finish(f.out, stdout); err != nil {
		return err
	}
	if failed {
		return errFailed
	}
	return nil
}

// hostileEnv are the settings every case runs with: short timings so that
// each case takes seconds.
var hostileEnv = []string{"SCREEND_SETTLE=3s", "SCREEND_STABLE_FOR=300ms", "SCREEND_SCAN_INTERVAL=2s", "SCREEND_LOG_LEVEL=debug"}

// runHostile runs one case on a fresh harness.
func runHostile(ctx context.Context, rep *Report, f hostileFlags, c hostileCase) *HostileResult {
	res := &HostileResult{Item: c.Item, Name: c.Name}
	start := time.Now()
	h, err := newHarness(ctx, harnessOptions{Screend: f.screend, Work: f.work, Keep: f.keep})
	if err != nil {
		res.Detail = err.Error()
		return res
	}
	defer h.Close()
	if rep.Machine.PostgreSQL == "" {
		rep.Machine.PostgreSQL = postgresVersion(ctx, h.dbURL)
	}
	hc := &hostileRun{harness: h, env: append(slices.Clone(hostileEnv), c.Env...)}
	res.Detail, err = c.Run(ctx, hc)
	res.OK = err == nil
	if err != nil {
		res.Detail = strings.TrimSpace(res.Detail + " " + err.Error())
	}
	for _, d := range hc.daemons {
		peak, _ := d.Usage()
		res.PeakRSSMB = max(res.PeakRSSMB, peak)
	}
	res.Seconds = round(time.Since(start).Seconds(), 1)
	return res
}

// hostilePhoto writes a small photo-like PNG (different for every seed)
// at path, creating folders.
func hostilePhoto(path string, w, h int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	base := [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
	for y := range h {
		for x := range w {
			i := img.PixOffset(x, y)
			for c := range 3 {
				v := base[c] + float64(c*x+y)/float64(w+h)*80 + r.NormFloat64()*6
				img.Pix[i+c] = uint8(max(0, min(255, v)))
			}
			img.Pix[i+3] = 255
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func init() {
	registerHostile(
		hostileCase{Item: "1", Name: "non-UTF-8 file, folder and project names", Run: hostileNonUTF8},
		hostileCase{Item: "4", Name: "memory bombs within the pixel limit; crashed decoder", Run: hostileMemoryBombs},
		hostileCase{Item: "6", Name: "file under a missing project folder is not gone", Run: hostileUnseen},
		hostileCase{Item: "7", Name: "a gone path is processed again when the file is back", Run: hostileGoneBack},
		hostileCase{Item: "8", Name: "folder moved in and removed 1.5 s later: pending reaches 0", Run: hostileFolderRemoved},
		hostileCase{Item: "9", Name: "image replaced by a symlink, FIFO or folder after recording", Run: hostileReplaced},
		hostileCase{Item: "11", Name: "content overwritten after embedding is read again", Run: hostileRewritten},
		hostileCase{Item: "12", Name: "inbox root that is a symlink; doctor says what it watches", Run: hostileSymlinkRoot},
		hostileCase{Item: "15a", Name: "file copied back with the same size and mtime", Run: hostileCopiedBack},
		hostileCase{Item: "16", Name: "pending counts files not yet stable", Env: []string{"SCREEND_STABLE_FOR=20s"}, Run: hostilePending},
	)
}

func hostileNonUTF8(ctx context.Context, hc *hostileRun) (string, error) {
	files := []string{
		filepath.Join(hc.inbox, "p", "\xff\xfe.png"),
		filepath.Join(hc.inbox, "p", "old\xe9", "20250101_000000_stage1_generated.png"),
		filepath.Join(hc.inbox, "\xe9t\xe9", "20250101_000000_stage1_generated.png"),
		filepath.Join(hc.inbox, "q", "20250101_000000_stage1_generated.png"),
	}
	for i, p := range files {
		if err := hostilePhoto(p, 48, 48, uint64(100+i)); err != nil {
			return "", err
		}
	}
	if _, err := hc.start(); err != nil {
		return "", err
	}
	if err := hc.idle(ctx, len(files)); err != nil {
		return "", err
	}
	var embedded, raw int
	if err := hc.queryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'embedded'), count(*) FILTER (WHERE path_raw IS NOT NULL) FROM screend.images`,
		nil, &embedded, &raw); err != nil {
		return "", err
	}
	detail := fmt.Sprintf("%d of %d embedded, %d kept with their exact bytes", embedded, len(files), raw)
	if embedded != len(files) || raw != 3 {
		return detail, errors.New("want every file embedded, 3 with bytes beside the readable path")
	}
	return detail, nil
}

func hostileMemoryBombs(ctx context.Context, hc *hostileRun) (string, error) {
	p := filepath.Join(hc.inbox, "p")
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", err
	}
	bombs := map[string][]byte{}
	for i := range 8 {
		bombs[fmt.Sprintf("jpeg_bomb_%d.jpg", i)] = imagefiletest.ProgressiveJPEGBomb(9999, 9999)
	}
	png16 := imagefiletest.FlatPNG16(9000, 9000)
	for i := range 4 {
		// Each a little different, so they are not duplicates.
		bombs[fmt.Sprintf("png16_bomb_%d.png", i)] = append(slices.Clone(png16), byte(i))
	}
	for name, data := range bombs {
		if err := os.WriteFile(filepath.Join(p, name), data, 0o644); err != nil {
			return "", err
		}
	}
	sparse := filepath.Join(p, "sparse.png")
	if err := os.WriteFile(sparse, imagefiletest.FlatPNG16(100, 100), 0o644); err != nil {
		return "", err
	}
	if err := os.Truncate(sparse, 1500<<20); err != nil {
		return "", err
	}
	if err := hostilePhoto(filepath.Join(p, "20250101_000000_stage1_generated.png"), 48, 48, 1); err != nil {
		return "", err
	}
	// A file whose decodes began three times and never finished, as when
	// the kernel killed the daemon while decoding it on three starts.
	if err := hc.migrate(ctx); err != nil {
		return "", err
	}
	crash := filepath.Join(p, "20250101_000100_stage1_generated.png")
	if err := hostilePhoto(crash, 48, 48, 2); err != nil {
		return "", err
	}
	if err := hc.recordFile(ctx, hc.inbox, "p", crash, crash); err != nil {
		return "", err
	}
	if err := hc.exec(ctx, `UPDATE screend.images SET decodes = 3, attempts = 3`); err != nil {
		return "", err
	}
	d, err := hc.start()
	if err != nil {
		return "", err
	}
	if err := hc.idle(ctx, len(bombs)+3); err != nil {
		return "", err
	}
	var implausible int
	if err := hc.queryRow(ctx, `SELECT count(*) FROM screend.images WHERE state = 'quarantined' AND reason LIKE 'implausible header%'`,
		nil, &implausible); err != nil {
		return "", err
	}
	crashState, crashReason := hc.state(ctx, filepath.Base(crash))
	peak, _ := d.Usage()
	detail := fmt.Sprintf("%d of %d bombs refused as implausible; crashed file %s (%s); peak RSS %.0f MB",
		implausible, len(bombs)+1, crashState, strings.SplitN(crashReason, ":", 2)[0], peak)
	switch {
	case implausible != len(bombs)+1:
		return detail, errors.New("want every bomb quarantined as implausible")
	case crashState != "quarantined" || !strings.HasPrefix(crashReason, "crashed_decoder"):
		return detail, errors.New("want the crashed file quarantined as crashed_decoder")
	case peak > 400:
		return detail, errors.New("want peak RSS under 400 MB")
	}
	return detail, nil
}

func hostileUnseen(ctx context.Context, hc *hostileRun) (string, error) {
	// A second root, empty as an unmounted share is, with a file recorded
	// under a project folder that is not there.
	share := filepath.Join(hc.work, "share")
	if err := os.MkdirAll(share, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(hc.work, "20250101_000000_stage1_generated.png")
	if err := hostilePhoto(src, 48, 48, 3); err != nil {
		return "", err
	}
	if err := hc.migrate(ctx); err != nil {
		return "", err
	}
	dst := filepath.Join(share, "p", filepath.Base(src))
	if err := hc.recordFile(ctx, share, "p", dst, src); err != nil {
		return "", err
	}
	if _, err := hc.start("SCREEND_INBOX=" + hc.inbox + "," + share); err != nil {
		return "", err
	}
	var state, reason string
	err := until(ctx, 30*time.Second, "the file to be looked at", func() bool {
		state, reason = hc.state(ctx, filepath.Base(src))
		return reason != ""
	})
	if err != nil {
		return "", err
	}
	if state != "discovered" {
		return fmt.Sprintf("%s (%s)", state, reason), errors.New("want it left discovered, to be tried again")
	}
	// Mounted: the folder and its file appear.
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(src, dst); err != nil {
		return "", err
	}
	if err := hc.idle(ctx, 1); err != nil {
		return "", err
	}
	after, _ := hc.state(ctx, filepath.Base(src))
	detail := fmt.Sprintf("unmounted: %s (%s); mounted: %s", state, reason, after)
	if after != "embedded" {
		return detail, errors.New("want it embedded once its folder is there")
	}
	return detail, nil
}

func hostileGoneBack(ctx context.Context, hc *hostileRun) (string, error) {
	src := filepath.Join(hc.work, "back.png")
	if err := hostilePhoto(src, 48, 48, 4); err != nil {
		return "", err
	}
	if err := hostilePhoto(filepath.Join(hc.inbox, "p", "20250101_000000_stage1_generated.png"), 48, 48, 5); err != nil {
		return "", err
	}
	if err := hc.migrate(ctx); err != nil {
		return "", err
	}
	dst := filepath.Join(hc.inbox, "p", "back.png")
	if err := hc.recordFile(ctx, hc.inbox, "p", dst, src); err != nil {
		return "", err
	}
	if _, err := hc.start(); err != nil {
		return "", err
	}
	if err := until(ctx, 30*time.Second, "back.png to be gone", func() bool { s, _ := hc.state(ctx, "back.png"); return s == "gone" }); err != nil {
		return "", err
	}
	if err := os.Rename(src, dst); err != nil {
		return "", err
	}
	err := until(ctx, 30*time.Second, "back.png to be embedded", func() bool { s, _ := hc.state(ctx, "back.png"); return s == "embedded" })
	state, _ := hc.state(ctx, "back.png")
	return "gone, then back: " + state, err
}

func hostileFolderRemoved(ctx context.Context, hc *hostileRun) (string, error) {
	if _, err := hc.start(); err != nil {
		return "", err
	}
	// One file first, so the project exists and status has images.
	if err := hostilePhoto(filepath.Join(hc.inbox, "p", "20240101_000000_stage1_generated.png"), 48, 48, 6); err != nil {
		return "", err
	}
	if err := hc.idle(ctx, 1); err != nil {
		return "", err
	}
	staged := filepath.Join(hc.work, "batch")
	for i := range 100 {
		for j, stage := range []string{"stage1_generated", "stage2_upscaled"} {
			name := fmt.Sprintf("20250101_00%04d_%s.png", i, stage)
			if err := hostilePhoto(filepath.Join(staged, name), 160, 160, uint64(1000+2*i+j)); err != nil {
				return "", err
			}
		}
	}
	in := filepath.Join(hc.inbox, "p", "batch")
	if err := os.Rename(staged, in); err != nil {
		return "", err
	}
	time.Sleep(1500 * time.Millisecond)
	if err := os.RemoveAll(in); err != nil {
		return "", err
	}
	if err := hc.idle(ctx, 1); err != nil {
		return "", err
	}
	st, err := hc.Status(ctx)
	if err != nil {
		return "", err
	}
	detail := fmt.Sprintf("idle: images %v, groups %v", st.Images, st.Groups)
	if st.Images["gone"] == 0 {
		return detail, errors.New("no file went gone: the case did not happen (the machine was too fast)")
	}
	return detail, nil
}

func hostileReplaced(ctx context.Context, hc *hostileRun) (string, error) {
	p := filepath.Join(hc.inbox, "p")
	src := filepath.Join(hc.work, "real.png")
	if err := hostilePhoto(src, 48, 48, 7); err != nil {
		return "", err
	}
	if err := hc.migrate(ctx); err != nil {
		return "", err
	}
	names := []string{"link.png", "fifo.png", "dir.png"}
	for _, n := range names {
		if err := hc.recordFile(ctx, hc.inbox, "p", filepath.Join(p, n), src); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(filepath.Join(p, "dir.png"), 0o755); err != nil {
		return "", err
	}
	if err := os.Symlink(src, filepath.Join(p, "link.png")); err != nil {
		return "", err
	}
	if err := syscall.Mkfifo(filepath.Join(p, "fifo.png"), 0o644); err != nil {
		return "", err
	}
	if _, err := hc.start(); err != nil {
		return "", err
	}
	if err := hc.idle(ctx, 3); err != nil {
		return "", err
	}
	var got []string
	for _, n := range names {
		s, r := hc.state(ctx, n)
		got = append(got, fmt.Sprintf("%s: %s (%s)", n, s, r))
		if s != "gone" || !strings.HasPrefix(r, "replaced by") {
			return strings.Join(got, "; "), fmt.Errorf("want %s gone with the reason", n)
		}
	}
	if !hc.logHas("replaced by a named pipe") {
		return strings.Join(got, "; "), errors.New("no log line names the replacement")
	}
	return strings.Join(got, "; "), nil
}

func hostileRewritten(ctx context.Context, hc *hostileRun) (string, error) {
	path := filepath.Join(hc.inbox, "p", "20250101_000000_stage1_generated.png")
	if err := hostilePhoto(path, 48, 48, 8); err != nil {
		return "", err
	}
	if _, err := hc.start(); err != nil {
		return "", err
	}
	if err := hc.idle(ctx, 1); err != nil {
		return "", err
	}
	read := func() (sha string, width int, vec string) {
		hc.queryRow(ctx, `
			SELECT encode(i.sha256, 'hex'), i.width, e.embedding::text FROM screend.images i JOIN screend.embeddings e USING (image_id)
			WHERE i.state = 'embedded'`, nil, &sha, &width, &vec)
		return
	}
	sha1, w1, v1 := read()
	if err := hostilePhoto(path, 72, 72, 9); err != nil {
		return "", err
	}
	err := until(ctx, 30*time.Second, "the new content to be embedded", func() bool {
		sha, w, v := read()
		return sha != sha1 && w != w1 && v != v1 && sha != ""
	})
	sha2, w2, _ := read()
	return fmt.Sprintf("width %d -> %d, sha256 %.8s -> %.8s", w1, w2, sha1, sha2), err
}

func hostileSymlinkRoot(ctx context.Context, hc *hostileRun) (string, error) {
	link := filepath.Join(hc.work, "inbox-link")
	if err := os.Symlink(hc.inbox, link); err != nil {
		return "", err
	}
	if err := hostilePhoto(filepath.Join(hc.inbox, "p", "20250101_000000_stage1_generated.png"), 48, 48, 10); err != nil {
		return "", err
	}
	if _, err := hc.start("SCREEND_INBOX=" + link); err != nil {
		return "", err
	}
	if err := hc.idle(ctx, 1); err != nil {
		return "", err
	}
	state, _ := hc.state(ctx, "20250101_000000_stage1_generated.png")
	cmd := exec.CommandContext(ctx, hc.bin, "--config", filepath.Join(hc.work, "screend.toml"), "doctor")
	cmd.Env = append(append(os.Environ(), hc.harness.env...), "SCREEND_INBOX="+link)
	out, _ := cmd.CombinedOutput()
	watching := ""
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "inbox") {
			watching = strings.TrimSpace(line)
		}
	}
	detail := fmt.Sprintf("file %s; doctor: %s", state, watching)
	if state != "embedded" || !strings.Contains(watching, "watching "+hc.inbox) {
		return detail, errors.New("want the file embedded and doctor to name the folder watched")
	}
	return detail, nil
}

func hostileCopiedBack(ctx context.Context, hc *hostileRun) (string, error) {
	p := filepath.Join(hc.inbox, "p")
	if err := hostilePhoto(filepath.Join(p, "20250101_000000_stage1_generated.png"), 48, 48, 11); err != nil {
		return "", err
	}
	broken := filepath.Join(p, "broken.png")
	if err := os.WriteFile(broken, []byte("not a picture"), 0o644); err != nil {
		return "", err
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(broken, old, old); err != nil {
		return "", err
	}
	if _, err := hc.start(); err != nil {
		return "", err
	}
	if err := hc.idle(ctx, 2); err != nil {
		return "", err
	}
	// cp -p from the quarantine: same bytes, size and mtime.
	data, err := os.ReadFile(filepath.Join(p, "__quarantine", "broken.png"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(broken, data, 0o644); err != nil {
		return "", err
	}
	if err := os.Chtimes(broken, old, old); err != nil {
		return "", err
	}
	var n int
	err = until(ctx, 30*time.Second, "the copy to be quarantined again", func() bool {
		return hc.queryRow(ctx, `SELECT count(*) FROM screend.images WHERE file_name = 'broken.png' AND state = 'quarantined'`, nil, &n) == nil && n == 2
	})
	return fmt.Sprintf("%d quarantined records of broken.png without a restart", n), err
}

func hostilePending(ctx context.Context, hc *hostileRun) (string, error) {
	if _, err := hc.start(); err != nil {
		return "", err
	}
	// Wait for the daemon to be up (its first scan done), then drop.
	if err := until(ctx, 30*time.Second, "the daemon to be watching", func() bool { return hc.logHas(`"msg":"watching"`) }); err != nil {
		return "", err
	}
	// A writer that has written half of the file and keeps it open.
	src := filepath.Join(hc.work, "src.png")
	if err := hostilePhoto(src, 48, 48, 12); err != nil {
		return "", err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(hc.inbox, "p"), 0o755); err != nil {
		return "", err
	}
	f, err := os.Create(filepath.Join(hc.inbox, "p", "20250101_000000_stage1_generated.png"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(data[:len(data)/2]); err != nil {
		return "", err
	}
	var st daemonStatus
	err = until(ctx, 10*time.Second, "status to count the file", func() bool {
		var err error
		st, err = hc.Status(ctx)
		return err == nil && st.Pending == 1 && len(st.Images) == 0
	})
	return fmt.Sprintf("pending %d while the file waits to be stable (images %v)", st.Pending, st.Images), err
}
