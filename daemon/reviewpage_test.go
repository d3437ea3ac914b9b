package daemon_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"screend/sql/sqltest"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"screend"
	"screend/daemon/reviewpage/browser"
	"screend/scoring/model"
	"screend/scoring/onnxrt/onnxrttest"
	"screend/sql"
)

// screenshots is where TestReviewPageInBrowser writes the page's
// screenshots; by default a temporary folder. The README's are made with
// go test ./daemon -run ReviewPageInBrowser -screenshots ../docs/screenshots
var screenshots = flag.String("screenshots", "", "folder for the review page's screenshots (default: a temporary one)")

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// page drives the review page in a headless Chromium.
type page struct {
	t     *testing.T
	ctx   context.Context
	url   string
	shots string
}

func openPage(t *testing.T, url string) *page {
	t.Helper()
	ctx, cancel, err := browser.Start(context.Background(), t.TempDir(), 1440, 900)
	if errors.Is(err, browser.ErrNoChromium) {
		t.Fatal(err)
	}
	must(t, err)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx, url: url, shots: t.TempDir()}
	p.do(chromedp.Navigate("about:blank"))
	// The page's console and uncaught errors go into the test log when the
	// test ends (a goroutine must not log after it).
	var mu sync.Mutex
	var console []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, string(m.Type)+": "+m.Text)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, line := range console {
			t.Logf("page console %s", line)
		}
	})
	p.do(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	return p
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

func evalJS[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// poll waits until the expression is true on the page.
func (p *page) poll(expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
		p.t.Fatalf("waiting for %s: %v", expr, err)
	}
}

// key presses keys on the page.
func (p *page) key(keys string) { p.t.Helper(); p.do(chromedp.KeyEvent(keys)) }

// shown is the id of the group the page shows (0: none), once its images
// are on screen.
func (p *page) shown() int64 {
	p.t.Helper()
	return evalJS[int64](p, `(() => { const g = window.screend.state.queue[0]; return g && document.querySelector(".card") ? g.group_id : 0; })()`)
}

// waitShown waits until the page shows a group other than not (0: any).
func (p *page) waitShown(not int64) int64 {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		g := p.shown()
		if g != 0 && g != not {
			return g
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the page shows no new group (still %d)", g)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot writes the page as PNG into the screenshots folder.
func (p *page) screenshot(name string) {
	p.t.Helper()
	time.Sleep(300 * time.Millisecond) // let companions and transitions settle
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	must(p.t, err)
	dir := *screenshots
	if dir == "" {
		dir = p.shots
	}
	must(p.t, os.MkdirAll(dir, 0o755))
	must(p.t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
}

// decision returns the decision of a group once it is pageDecision.
type pageDecision struct {
	outcome    string
	chosen     int64
	crop       []float32
	by         string
	correction bool
}

func waitDecision(t *testing.T, db *sql.DB, group int64) pageDecision {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var r pageDecision
		var chosen *int64
		err := sqltest.Pool(db).QueryRow(context.Background(), `
			SELECT outcome, chosen_image_id, crop, decided_by, correction_of IS NOT NULL
			FROM screend.decisions WHERE group_id = $1`, group).Scan(&r.outcome, &chosen, &r.crop, &r.by, &r.correction)
		if err == nil {
			if chosen != nil {
				r.chosen = *chosen
			}
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("no decision for group %d: %v", group, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// groupImages returns the ids of a group's images in their order.
func groupImages(t *testing.T, db *sql.DB, group int64) []int64 {
	t.Helper()
	rows, err := sqltest.Pool(db).Query(context.Background(), `SELECT image_id FROM screend.group_images WHERE group_id = $1 ORDER BY position`, group)
	must(t, err)
	var ids []int64
	for rows.Next() {
		var id int64
		must(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	return ids
}

func suggestedImage(t *testing.T, db *sql.DB, group int64) int64 {
	t.Helper()
	var id int64
	must(t, sqltest.Pool(db).QueryRow(context.Background(), `SELECT suggested_image_id FROM screend.groups WHERE group_id = $1`, group).Scan(&id))
	return id
}

// TestReviewPageInBrowser drives the review page in headless Chromium
// against the real daemon and database: accept with one key, choose another
// image and crop it (box moved and resized by keys and mouse, aspect ratio
// locked), reject, crop by hand later, undo, a group a second reviewer
// decided meanwhile, and taking back an automatic decision from the
// history. The database and the folders show each result; the screenshots
// go to docs/screenshots for the README.
func TestReviewPageInBrowser(t *testing.T) {
	t.Parallel()
	onnxrttest.Init(t)
	dbURL, inbox := newInbox(t)
	proj := filepath.Join(inbox, "mojo")
	// Five pictures of three stages (the model suggests, a person decides)
	// and one of two stages (the model crops it alone).
	three := []string{"stage1_generated", "stage1.5_face_swapped", "stage2_upscaled"}
	for i := range 5 {
		stageFiles(t, proj, fmt.Sprintf("20250301_0%d0000", i+1), 160, uint64(10+i), three...)
	}
	stageFiles(t, proj, "20250301_090000", 160, 30, "stage1_generated", "stage2_upscaled")
	before := inventory(t, inbox)
	cfg := testConfig(t, dbURL, inbox)
	cfg.Settle = time.Second
	cfg.ReviewListen = freeAddr(t)
	cfg.ReviewCache = t.TempDir()
	d := startDaemon(t, cfg)
	installModel(t, d.db, 498, func(p *model.Params) { p.Thresholds.Select = 1 }) // selects go to a person
	st := waitIdle(t, d.db, 90*time.Second)
	if st.ReviewQueue != 5 || st.Groups[screend.GroupApplied] != 1 {
		t.Fatalf("status %+v, want 5 groups waiting and 1 decided alone", st)
	}
	ctx := context.Background()

	p := openPage(t, "http://"+cfg.ReviewListen+"/")
	p.screenshot("review-queue.png")

	// 1. Accept the suggestion with one key.
	g1 := p.waitShown(0)
	p.key(kb.Enter)
	if r := waitDecision(t, d.db, g1); r.outcome != "select" || r.chosen != suggestedImage(t, d.db, g1) || r.by != "review-page" {
		t.Errorf("accepted group %d: %+v, want the suggested image kept by review-page", g1, r)
	}

	// 2. Choose the first image instead and crop it: keys, then the mouse.
	g2 := p.waitShown(g1)
	p.key("1")
	p.key("c")
	p.do(chromedp.WaitVisible(chromedp.CSS(".card.chosen .crop-box")))
	for range 3 {
		p.key(kb.ArrowRight)
	}
	p.key("-")
	p.key("-")
	box := evalJS[[]float64](p, `window.screend.state.choice.box`)
	// From the default [0.1 0.1 0.9 0.9]: 0.03 to the right, then 0.04
	// smaller around its centre, still a square in the image's coordinates.
	if math.Abs(box[0]-0.15) > 1e-6 || math.Abs(box[1]-0.12) > 1e-6 || math.Abs((box[2]-box[0])-0.76) > 1e-6 || math.Abs((box[3]-box[1])-0.76) > 1e-6 {
		t.Errorf("box after 3 steps right and 2 shrinks: %v, want [0.15 0.12 0.91 0.88]", box)
	}
	// Drag the corner handle towards the top left (smaller), then the box
	// to the right.
	handle := evalJS[[]float64](p, `(() => { const r = document.querySelector(".card.chosen .handle").getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`)
	frame := evalJS[[]float64](p, `(() => { const r = document.querySelector(".card.chosen .frame").getBoundingClientRect(); return [r.width, r.height]; })()`)
	drag := func(x0, y0, x1, y1 float64) {
		p.do(
			chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x0, y0, chromedp.ButtonLeft, chromedp.ClickCount(1)),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, (x0+x1)/2, (y0+y1)/2, chromedp.ButtonLeft),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x1, y1, chromedp.ButtonLeft),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x1, y1, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		)
	}
	drag(handle[0], handle[1], handle[0]-0.3*frame[0], handle[1]-0.1*frame[1])
	resized := evalJS[[]float64](p, `window.screend.state.choice.box`)
	if side := resized[2] - resized[0]; math.Abs(side-0.66) > 0.02 || math.Abs((resized[3]-resized[1])-side) > 1e-9 {
		t.Errorf("box after dragging its corner: %v, want side 0.66 (the larger of the two moves, aspect kept)", resized)
	}
	center := evalJS[[]float64](p, `(() => { const r = document.querySelector(".card.chosen .crop-box").getBoundingClientRect(); return [r.x + r.width/2, r.y + r.height/2]; })()`)
	drag(center[0], center[1], center[0]+0.5*frame[0], center[1]+0.02*frame[1])
	moved := evalJS[[]float64](p, `window.screend.state.choice.box`)
	if math.Abs(moved[2]-1) > 1e-6 || math.Abs((moved[2]-moved[0])-(resized[2]-resized[0])) > 1e-6 {
		t.Errorf("box after dragging it far right: %v, want it stopped at the right edge with its size", moved)
	}
	p.screenshot("review-crop.png")
	first := groupImages(t, d.db, g2)[0]
	p.key(kb.Enter)
	r := waitDecision(t, d.db, g2)
	if r.outcome != "crop" || r.chosen != first || len(r.crop) != 4 {
		t.Fatalf("cropped group %d: %+v, want image %d cropped", g2, r, first)
	}
	for i := range 4 {
		if math.Abs(float64(r.crop[i])-moved[i]) > 1e-4 {
			t.Errorf("pageDecision box %v, page box %v", r.crop, moved)
			break
		}
	}

	// 3. Reject the next group, 4. keep the next one for cropping by hand.
	g3 := p.waitShown(g2)
	p.key("x")
	if r := waitDecision(t, d.db, g3); r.outcome != "reject" {
		t.Errorf("rejected group %d: %+v", g3, r)
	}
	g4 := p.waitShown(g3)
	p.key("m")
	if r := waitDecision(t, d.db, g4); r.outcome != "manual_crop" || r.chosen != suggestedImage(t, d.db, g4) {
		t.Errorf("manual crop group %d: %+v", g4, r)
	}

	// 5. Undo the last decision: the group comes back and is decided again,
	// as a correction.
	g5 := p.waitShown(g4)
	waitIdle(t, d.db, 30*time.Second) // g4's files are in __crop
	p.key("u")
	if g := p.waitShown(g5); g != g4 {
		t.Fatalf("after undo the page shows group %d, want %d back", g, g4)
	}
	p.key("2")
	p.key(kb.Enter)
	if r := waitDecision(t, d.db, g4); r.outcome != "select" || r.chosen != groupImages(t, d.db, g4)[1] || !r.correction {
		t.Errorf("group %d decided again: %+v, want image 2 kept, a correction", g4, r)
	}

	// 6. A second reviewer decides the shown group first: the page says so
	// and shows the next group.
	if p.waitShown(g4) != g5 {
		t.Fatalf("the page does not show group %d", g5)
	}
	_, err := d.db.Resolve(ctx, sql.Resolution{GroupID: g5, ChosenImageID: groupImages(t, d.db, g5)[0], Reviewer: "erin"})
	must(t, err)
	p.key(kb.Enter)
	p.do(chromedp.WaitVisible(chromedp.CSS("#toast.warn")))
	msg := evalJS[string](p, `document.querySelector("#toast").textContent`)
	if !strings.Contains(msg, fmt.Sprintf("Group %d was decided by someone else", g5)) {
		t.Errorf("toast %q, want a clear message about group %d", msg, g5)
	}
	if r := waitDecision(t, d.db, g5); r.by != "erin" {
		t.Errorf("group %d decided by %s, want erin only", g5, r.by)
	}
	p.do(chromedp.WaitVisible(chromedp.CSS("#empty")))
	p.screenshot("review-done.png")

	// 7. Take back the automatic crop from the history, and decide it.
	waitIdle(t, d.db, 30*time.Second)
	auto := groupIDs(t, d.db, screend.GroupApplied)["20250301_090000_stage1_generated.png"]
	p.key("h")
	sel := fmt.Sprintf(`tr[data-group-id="%d"] button`, auto)
	p.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	p.screenshot("review-history.png")
	p.do(chromedp.Click(chromedp.CSS(sel)))
	p.poll(fmt.Sprintf(`document.querySelector('%s').textContent === "Review now"`, sel))
	for _, rel := range []string{"20250301_090000_stage1_generated.png", "20250301_090000_stage2_upscaled.png",
		"20250301_090000_stage2_upscaled.yaml", "__delete_staging/20250301_090000_stage2_upscaled.png",
		"__delete_staging/20250301_090000_stage2_upscaled.decision"} {
		if _, err := os.Stat(filepath.Join(proj, rel)); err != nil {
			t.Errorf("after taking back the automatic crop: %v", err)
		}
	}
	p.do(chromedp.Click(chromedp.CSS(sel)))
	if g := p.waitShown(0); g != auto {
		t.Fatalf("review now shows group %d, want %d", g, auto)
	}
	p.screenshot("review-taken-back.png")
	p.key("1") // the first image, and no crop
	p.key("c")
	p.key(kb.Enter)
	if r := waitDecision(t, d.db, auto); r.outcome != "select" || !r.correction || r.by != "review-page" {
		t.Errorf("the taken-back group decided again: %+v, want a correction", r)
	}

	// The folders: every decision carried out, nothing lost.
	waitIdle(t, d.db, 30*time.Second)
	want := map[string]int{"__selected": 4, "__cropped": 1, "__originals": 1, "__crop": 0}
	for dir, n := range want {
		imgs, _ := filepath.Glob(filepath.Join(proj, dir, "*.png"))
		if len(imgs) != n {
			t.Errorf("%s holds %v, want %d images", dir, imgs, n)
		}
	}
	added := checkNothingLost(t, before, inventory(t, inbox))
	if !slices.ContainsFunc(added, func(p string) bool { return strings.HasPrefix(p, "mojo/__cropped/") }) {
		t.Errorf("new files %v, want the page's crop among them", added)
	}
	var corrections int
	must(t, sqltest.Pool(d.db).QueryRow(ctx, `SELECT coalesce(sum(corrections), 0) FROM screend.model_agreement`).Scan(&corrections))
	if corrections != 2 {
		t.Errorf("model_agreement counts %d corrections, want 2", corrections)
	}
}
