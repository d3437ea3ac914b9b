// Package browser starts a headless Chromium (Debian's chromium package)
// for the review page's tests and benchmark, with a fresh profile and
// nothing that reaches the network by itself.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNoChromium means no Chromium is installed (scripts/setup.sh installs it).
var ErrNoChromium = errors.New("chromium not found: run scripts/setup.sh (it installs Debian's chromium)")

// closeTimeout bounds the wait for Chromium to close itself.
const closeTimeout = 10 * time.Second

// Start starts Chromium with its profile in dataDir and a window of
// width×height and returns a context for chromedp actions on its first tab.
// cancel closes the browser and removes what it left in its own temporary
// folder.
//
// Chromium keeps files outside its profile too: the socket of its process
// singleton lives in a folder it makes under $TMPDIR
// (org.chromium.Chromium.XXXXXX), removed only when it shuts down cleanly.
// A browser killed (as a cancelled chromedp context does) left one in /tmp
// per run. So the browser gets a temporary folder of its own, short enough
// for a socket path, asked to close before it is stopped, and the folder is
// removed once it exited.
func Start(ctx context.Context, dataDir string, width, height int) (context.Context, context.CancelFunc, error) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		return nil, nil, ErrNoChromium
	}
	tmp, err := os.MkdirTemp("", "screend-chromium-")
	if err != nil {
		return nil, nil, fmt.Errorf("make chromium's temporary folder: %w", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Env("TMPDIR=" + tmp),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(dataDir),
		chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cctx, cancel := context.WithTimeout(bctx, closeTimeout)
			_ = chromedp.Cancel(cctx) // a clean shutdown; killed below if it does not finish
			cancel()
			cancelBrowser()
			cancelAlloc() // waits for the process to exit
			_ = os.RemoveAll(tmp)
		})
	}
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		stop()
		return nil, nil, err
	}
	return bctx, stop, nil
}
