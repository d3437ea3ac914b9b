package imagefile

import (
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// emptyPool drops every free buffer, for a test that counts them.
func emptyPool(t *testing.T) {
	t.Helper()
	pool.Lock()
	defer pool.Unlock()
	pool.free, pool.bytes = nil, 0
}

func same(a, b []byte) bool { return unsafe.SliceData(a) == unsafe.SliceData(b) }

// A returned buffer serves the next request it holds, of another size too,
// unless it is twice that size or more; the smallest that fits is taken.
func TestPoolServesBestFit(t *testing.T) {
	emptyPool(t)
	small, large := getPix(3<<20), getPix(10<<20)
	putPix(small)
	putPix(large)
	if b := getPix(2<<20 + 1); !same(b, small) || len(b) != 2<<20+1 {
		t.Errorf("a 2 MiB request did not get the returned 3 MiB buffer")
	} else {
		putPix(b)
	}
	if b := getPix(1 << 20); same(b, small) || same(b, large) {
		t.Errorf("a 1 MiB request took a buffer of three times its size or more")
	}
	if b := getPix(5<<20 + 1); !same(b, large) {
		t.Errorf("a 5 MiB request did not get the returned 10 MiB buffer")
	}
	if b := getPix(3 << 20); !same(b, small) {
		t.Errorf("a 3 MiB request did not get the returned 3 MiB buffer")
	}
}

// Unlike a sync.Pool's, free buffers outlive garbage collections while
// they are in use, and go once they have been unused for poolIdle.
func TestPoolKeepsBuffersInUse(t *testing.T) {
	emptyPool(t)
	b := getPix(4 << 20)
	putPix(b)
	runtime.GC()
	runtime.GC()
	got := getPix(4 << 20)
	if !same(got, b) {
		t.Fatal("a buffer returned just before two collections was not reused")
	}
	putPix(got)
	pool.Lock()
	pool.free[0].at = time.Now().Add(-poolIdle - time.Second)
	pool.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		pool.Lock()
		n, bytes := len(pool.free), pool.bytes
		pool.Unlock()
		if n == 0 && bytes == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a buffer unused for %s was still pooled after collections (%d buffers, %d bytes)", poolIdle, n, bytes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The pool keeps at most maxPooled bytes, dropping the buffers returned
// longest ago, and no buffer that is not of a size class.
func TestPoolIsBounded(t *testing.T) {
	emptyPool(t)
	var bufs [][]byte
	for range maxPooled/(16<<20) + 2 {
		bufs = append(bufs, getPix(16<<20))
	}
	for _, b := range bufs {
		putPix(b)
	}
	putPix(make([]byte, 5<<20+1)) // foreign
	pool.Lock()
	defer pool.Unlock()
	if pool.bytes > maxPooled || pool.bytes != len(pool.free)*(16<<20) {
		t.Fatalf("pool holds %d buffers, %d bytes; want at most %d bytes of 16 MiB buffers", len(pool.free), pool.bytes, maxPooled)
	}
	for _, p := range pool.free {
		if same(p.buf, bufs[0]) || same(p.buf, bufs[1]) {
			t.Errorf("the buffers returned first were kept, later ones dropped")
		}
	}
}
