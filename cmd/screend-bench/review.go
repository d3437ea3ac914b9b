package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"screend/daemon/reviewpage/browser"
)

// reviewCmd measures the review page: the time from a key press that
// decides a group to the next group shown (its images decoded and painted),
// in headless Chromium against a real daemon, for groups of three large
// PNGs. Three runs, each on groups of its own:
//
//   - uncached: thumbnails not made yet and no prefetching (?prefetch=0):
//     every key press waits for three decodes;
//   - uncached, prefetching at a reviewer's pace: the page prefetches the
//     next groups while the reviewer looks at one for --pace;
//   - cached: every thumbnail already made (the daemon's memory and disk
//     cache), a fresh browser profile, key presses as fast as the page
//     allows.
func reviewCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("review", flag.ContinueOnError)
	groups := fs.Int("groups", 10, "groups decided in each of the three runs")
	side := fs.Int("side", 3072, "side of the square PNGs, in pixels")
	pace := fs.Duration("pace", 2*time.Second, "how long the reviewer looks at a group in the uncached prefetching run")
	fastPace := fs.Duration("fast-pace", 500*time.Millisecond, "how long a quick reviewer looks at a group in the second cached run")
	pngs := fs.String("pngs", "", "keep the generated PNGs in DIR and reuse them on the next run (default: make them anew)")
	screend := fs.String("screend", "", "prebuilt screend binary")
	work := fs.String("work", "", "parent folder of the work folder")
	out := fs.String("out", "", "write the JSON report to FILE and the Markdown beside it")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	rep := newReport(append([]string{"review"}, args...))
	h, err := newHarness(ctx, harnessOptions{Screend: *screend, Work: *work})
	if err != nil {
		return err
	}
	defer h.Close()

	runs := []struct {
		name     string
		query    string
		pace     time.Duration
		warm     bool
		goalMs   float64
		groupIDs []int64
	}{
		{name: "uncached, no prefetch", query: "?prefetch=0"},
		{name: fmt.Sprintf("uncached, prefetching, a decision every %s", *pace), pace: *pace},
		{name: "cached (memory and disk), fresh browser, keys back to back", warm: true, goalMs: 150},
		{name: fmt.Sprintf("cached, prefetching, a decision every %s", *fastPace), warm: true, pace: *fastPace, goalMs: 150},
	}
	// One group more than decided, so the last decision has a next group.
	total := len(runs)**groups + 1
	fmt.Fprintf(stderr, "writing %d groups of 3 PNGs of %dx%d\n", total, *side, *side)
	genStart := time.Now()
	keep := *pngs
	if keep == "" {
		keep = filepath.Join(h.work, "pngs")
	}
	if err := reviewPNGs(filepath.Join(h.inbox, "bench"), keep, total, *side); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote them in %s\n", time.Since(genStart).Round(time.Second))
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	cacheDir := filepath.Join(h.work, "thumbs")
	env := []string{"SCREEND_REVIEW_LISTEN=" + addr, "SCREEND_REVIEW_CACHE=" + cacheDir, "SCREEND_SETTLE=3s"}
	rep.Settings = map[string]string{"groups_per_run": fmt.Sprint(*groups), "side": fmt.Sprint(*side), "pace": pace.String()}
	d, err := h.Start(env...)
	if err != nil {
		return err
	}
	if err := h.WaitIdle(ctx, 3*total, 30*time.Minute); err != nil {
		return err
	}
	base := "http://" + addr

	var table bytes.Buffer
	table.WriteString("\n| run | groups | p50 ms | p95 ms | max ms | goal |\n|---|---|---|---|---|---|\n")
	floor, err := frameFloor(ctx, h.work, base)
	if err != nil {
		return err
	}
	fmt.Fprintf(&table, "| the machine's floor: a key press to two animation frames, no work (20 presses) | 20 | %.0f | %.0f | %.0f | – |\n",
		quantile(floor, 0.5), quantile(floor, 0.95), slices.Max(floor))
	for i, run := range runs {
		if run.warm {
			// Every thumbnail of the groups still waiting is made first.
			if err := warmThumbnails(ctx, base); err != nil {
				return err
			}
		}
		timings, err := timeDecisions(ctx, h.work, base+"/"+run.query, *groups, run.pace)
		if err != nil {
			return fmt.Errorf("run %q: %w", run.name, err)
		}
		p50, p95, worst := quantile(timings, 0.5), quantile(timings, 0.95), slices.Max(timings)
		goal := "–"
		if run.goalMs > 0 {
			goal = fmt.Sprintf("≤ %.0f ms (p95)", run.goalMs)
			rep.Targets = append(rep.Targets, Target{Name: "review page, key press to next group, " + run.name + ", p95 ms",
				Goal: goal, Measured: round1(p95), Met: p95 <= run.goalMs})
		}
		fmt.Fprintf(&table, "| %s | %d | %.0f | %.0f | %.0f | %s |\n", run.name, len(timings), p50, p95, worst, goal)
		fmt.Fprintf(stderr, "run %d (%s): p50 %.0f ms, p95 %.0f ms\n", i+1, run.name, p50, p95)
	}
	peak, cpu := d.Usage()
	fmt.Fprintf(&table, "\nDaemon peak RSS %.0f MB, %.1f CPU s over the whole run (embedding included).\n", peak, cpu)
	if err := rep.finish(*out, stdout); err != nil {
		return err
	}
	_, err = stdout.Write(table.Bytes())
	return err
}

// timeDecisions opens the page in a fresh headless Chromium and decides n
// groups, each by choosing its last image and pressing Enter after pace,
// and returns the page's own measurement of each press: from the keydown
// to the next group's images decoded and painted.
func timeDecisions(ctx context.Context, work, url string, n int, pace time.Duration) ([]float64, error) {
	profile, err := os.MkdirTemp(work, "chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	bctx, cancel, err := browser.Start(ctx, profile, 1600, 1000)
	if err != nil {
		return nil, err
	}
	defer cancel()
	step := func(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) error {
		c, cancel := context.WithTimeout(bctx, timeout)
		defer cancel()
		return chromedp.Do(c, steps...)
	}
	count := func() (int, error) {
		c, cancel := context.WithTimeout(bctx, 10*time.Second)
		defer cancel()
		return chromedp.Run(c, chromedp.Evaluate[int](`window.screendTimings.length`))
	}
	if err := step(2*time.Minute, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"] .card`))); err != nil {
		return nil, fmt.Errorf("open the page: %w", err)
	}
	for i := range n {
		time.Sleep(pace)
		if err := step(10*time.Second, chromedp.KeyEvent("3"), chromedp.KeyEvent(kb.Enter)); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			got, err := count()
			if err != nil {
				return nil, err
			}
			if got > i {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("decision %d: the next group was not shown within 2 minutes", i+1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	c, cancelEval := context.WithTimeout(bctx, 10*time.Second)
	defer cancelEval()
	return chromedp.Run(c, chromedp.Evaluate[[]float64](`window.screendTimings`))
}

// frameFloor measures, in a fresh browser on the page, the time from a key
// press to the second animation frame after it with nothing else done: the
// least any transition costs on this machine at its present load.
func frameFloor(ctx context.Context, work, url string) ([]float64, error) {
	profile, err := os.MkdirTemp(work, "chromium-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	bctx, cancel, err := browser.Start(ctx, profile, 1600, 1000)
	if err != nil {
		return nil, err
	}
	defer cancel()
	c, cancelRun := context.WithTimeout(bctx, 2*time.Minute)
	defer cancelRun()
	err = chromedp.Do(c, chromedp.Navigate(url+"/static/style.css"), chromedp.Evaluate[chromedp.Void](`
		window.floor = [];
		document.addEventListener("keydown", () => {
			const t0 = performance.now();
			requestAnimationFrame(() => requestAnimationFrame(() => window.floor.push(performance.now() - t0)));
		});`))
	if err != nil {
		return nil, err
	}
	for range 20 {
		if err := chromedp.Do(c, chromedp.KeyEvent("a"), chromedp.Sleep(100*time.Millisecond)); err != nil {
			return nil, err
		}
	}
	time.Sleep(500 * time.Millisecond)
	return chromedp.Run(c, chromedp.Evaluate[[]float64](`window.floor`))
}

// reviewPNGs puts n groups of side×side PNGs into dir, copied from keep;
// those keep lacks are made first.
func reviewPNGs(dir, keep string, n, side int) error {
	have, _ := filepath.Glob(filepath.Join(keep, fmt.Sprintf("*-%d.png", side)))
	if len(have) < 3*n {
		if err := writeReviewGroups(keep, n, side); err != nil {
			return err
		}
		have, _ = filepath.Glob(filepath.Join(keep, fmt.Sprintf("*-%d.png", side)))
	}
	slices.Sort(have)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, src := range have[:3*n] {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(src), fmt.Sprintf("-%d.png", side)) + ".png"
		tmp := filepath.Join(dir, ".tmp-"+name)
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// warmThumbnails asks the page's API for the thumbnail of every image of
// the groups waiting for review.
func warmThumbnails(ctx context.Context, base string) error {
	res, err := http.Get(base + "/api/queue?limit=20")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	ids := strings.Split(string(body), `"image_id":`)
	for _, part := range ids[1:] {
		id := part[:strings.IndexAny(part, ",}")]
		r, err := http.Get(base + "/api/images/" + id + "/thumb")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return fmt.Errorf("thumbnail of image %s: %s", id, r.Status)
		}
	}
	return ctx.Err()
}

// writeReviewGroups writes n pictures of three stage files (side×side
// PNGs with smooth photo-like content and fine grain), two at a time.
// The file names end in -SIDE.png; reviewPNGs drops the suffix when it
// copies them into the inbox.
func writeReviewGroups(dir string, n, side int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stages := []string{"stage1_generated", "stage1.5_face_swapped", "stage2_upscaled"}
	jobs := make(chan int)
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				g, s := j/3, j%3
				name := fmt.Sprintf("20250801_%02d%02d00_%s-%d.png", g/60, g%60, stages[s], side)
				if err := writeGrainyPNG(filepath.Join(dir, name), side, uint64(j)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
	for j := 0; j < 3*n && err == nil; j++ {
		select {
		case jobs <- j:
		case err = <-errs:
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

func writeGrainyPNG(path string, side int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 99))
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	cx, cy := r.IntN(side), r.IntN(side)
	var base [3]int
	for c := range base {
		base[c] = 40 + r.IntN(180)
	}
	noise := uint32(seed*2654435761 + 1)
	for y := range side {
		row := img.Pix[y*img.Stride:]
		dy := (y - cy) * (y - cy)
		for x := range side {
			// A soft light around (cx, cy), a diagonal gradient and grain.
			d := ((x-cx)*(x-cx) + dy) * 96 / (side * side)
			noise ^= noise << 13
			noise ^= noise >> 17
			noise ^= noise << 5
			for c := range 3 {
				v := base[c] - d + (c+1)*(x+y)*30/side + int(noise>>(8*c)&7) - 4
				row[4*x+c] = uint8(max(0, min(255, v)))
			}
			row[4*x+3] = 255
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// quantile returns the q-quantile of v (nearest rank).
func quantile(v []float64, q float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
