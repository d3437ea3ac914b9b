package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// closeWatcher reports files whose writer closed them (IN_CLOSE_WRITE) and
// files renamed into a watched folder (IN_MOVED_TO): both are complete at
// that moment. It is its own inotify instance beside fsnotify's, because
// fsnotify (v1.10.1, the newest release) implements close-write but does
// not export it (fsnotify issues #635 and #764).
type closeWatcher struct {
	f    *os.File // the inotify descriptor, non-blocking, in Go's poller
	done chan struct{}

	mu   sync.Mutex
	dirs map[int32]string // watch descriptor -> folder

	// Closed receives the path of every file closed after writing or
	// renamed into place; Overflow a value when the kernel dropped events.
	Closed   chan string
	Overflow chan struct{}
}

func newCloseWatcher() (*closeWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	return &closeWatcher{
		f:        os.NewFile(uintptr(fd), "inotify-close-write"),
		done:     make(chan struct{}),
		dirs:     map[int32]string{},
		Closed:   make(chan string, 4096),
		Overflow: make(chan struct{}, 1),
	}, nil
}

// Add watches a folder (not its subfolders).
func (c *closeWatcher) Add(dir string) error {
	conn, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var wd int
	var addErr error
	err = conn.Control(func(fd uintptr) {
		wd, addErr = unix.InotifyAddWatch(int(fd), dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO|unix.IN_ONLYDIR)
	})
	if err = errors.Join(err, addErr); err != nil {
		return fmt.Errorf("watch %s for close-write: %w", dir, err)
	}
	c.mu.Lock()
	c.dirs[int32(wd)] = dir
	c.mu.Unlock()
	return nil
}

// Run reads events until Close.
func (c *closeWatcher) Run() {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.f.Read(buf)
		if err != nil {
			return // closed
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameLen := int(ev.Len)
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+nameLen]
			off += unix.SizeofInotifyEvent + nameLen
			for len(name) > 0 && name[len(name)-1] == 0 {
				name = name[:len(name)-1]
			}
			switch {
			case ev.Mask&unix.IN_Q_OVERFLOW != 0:
				select {
				case c.Overflow <- struct{}{}:
				default:
				}
			case ev.Mask&unix.IN_IGNORED != 0:
				c.mu.Lock()
				delete(c.dirs, ev.Wd)
				c.mu.Unlock()
			case ev.Mask&unix.IN_ISDIR == 0 && len(name) > 0:
				c.mu.Lock()
				dir, ok := c.dirs[ev.Wd]
				c.mu.Unlock()
				if !ok {
					break
				}
				select {
				case c.Closed <- filepath.Join(dir, string(name)):
				case <-c.done:
					return
				}
			}
		}
	}
}

// Close stops Run.
func (c *closeWatcher) Close() error {
	close(c.done)
	return c.f.Close()
}
