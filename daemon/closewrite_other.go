//go:build !linux

package daemon

import "errors"

// closeWatcher has no close-write events outside Linux: files are taken
// by the size-and-mtime rule alone.
type closeWatcher struct {
	Closed   chan string
	Overflow chan struct{}
}

func newCloseWatcher() (*closeWatcher, error) {
	return nil, errors.New("close-write events need Linux's inotify")
}

func (c *closeWatcher) Add(string) error { return nil }
func (c *closeWatcher) Run()             {}
func (c *closeWatcher) Close() error     { return nil }
