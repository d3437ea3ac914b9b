package reviewpage

import (
	"bytes"
	"container/list"
	"context"
	"encoding/hex"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"screend/scoring/imagefile"
)

// Thumbnail sides in pixels (the longer side, at most).
const (
	thumbLarge = 768 // the queue: three side by side on a wide screen, sharp on HiDPI halves
	thumbSmall = 192 // the history
)

// thumbCache makes thumbnails on demand and keeps them in memory (least
// recently used first out, bounded in bytes) and on disk in dir (oldest
// first out, bounded in bytes). Two requests for the same thumbnail wait
// for one decode, and at most decodeSlots images are decoded at once, so
// memory stays bounded whatever the page asks for.
type thumbCache struct {
	dir       string
	maxPixels int64
	budget    *imagefile.Budget
	log       *slog.Logger

	mu       sync.Mutex
	memMax   int64
	memUsed  int64
	mem      map[string]*list.Element // of *memEntry
	lru      *list.List
	diskMax  int64
	diskUsed int64
	disk     map[string]diskEntry
	flight   map[string]*flight
	slots    chan struct{}
}

type memEntry struct {
	key  string
	data []byte
}

type diskEntry struct {
	size int64
	used time.Time
}

type flight struct {
	done chan struct{}
	data []byte
	err  error
}

// decodeSlots is how many images are decoded for thumbnails at once.
const decodeSlots = 2

// newThumbCache opens the cache in dir, creating it, and accounts for the
// thumbnails already there.
func newThumbCache(dir string, memMax, diskMax, maxPixels int64, budget *imagefile.Budget, log *slog.Logger) (*thumbCache, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create thumbnail cache %s: %w", dir, err)
	}
	c := &thumbCache{dir: dir, maxPixels: maxPixels, budget: budget, log: log, memMax: memMax, diskMax: diskMax,
		mem: map[string]*list.Element{}, lru: list.New(), disk: map[string]diskEntry{},
		flight: map[string]*flight{}, slots: make(chan struct{}, decodeSlots)}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read thumbnail cache %s: %w", dir, err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".jpg") {
			continue
		}
		c.disk[e.Name()] = diskEntry{size: info.Size(), used: info.ModTime()}
		c.diskUsed += info.Size()
	}
	c.mu.Lock()
	c.evictDisk()
	c.mu.Unlock()
	return c, nil
}

// thumbKey names a thumbnail by the image's content and the side.
func thumbKey(sha []byte, path string, side int) string {
	id := hex.EncodeToString(sha)
	if len(sha) == 0 { // not hashed yet: the path and its mtime
		info, _ := os.Stat(path)
		var mt int64
		if info != nil {
			mt = info.ModTime().UnixNano()
		}
		id = "p" + strconv.FormatUint(fnv64(path), 16) + "-" + strconv.FormatInt(mt, 16)
	}
	return id + "-" + strconv.Itoa(side) + ".jpg"
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// Get returns the JPEG thumbnail of the image at path, from memory, disk or
// made now.
func (c *thumbCache) Get(ctx context.Context, sha []byte, path string, side int) ([]byte, error) {
	key := thumbKey(sha, path, side)
	c.mu.Lock()
	if el, ok := c.mem[key]; ok {
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		return el.Value.(*memEntry).data, nil
	}
	if f, ok := c.flight[key]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.data, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	c.flight[key] = f
	_, onDisk := c.disk[key]
	c.mu.Unlock()

	f.data, f.err = c.load(ctx, key, path, side, onDisk)
	c.mu.Lock()
	delete(c.flight, key)
	if f.err == nil {
		c.remember(key, f.data)
	}
	c.mu.Unlock()
	close(f.done)
	return f.data, f.err
}

// load reads the thumbnail from disk, or makes it and stores it there.
func (c *thumbCache) load(ctx context.Context, key, path string, side int, onDisk bool) ([]byte, error) {
	file := filepath.Join(c.dir, key)
	if onDisk {
		if data, err := os.ReadFile(file); err == nil {
			now := time.Now()
			os.Chtimes(file, now, now)
			c.mu.Lock()
			if e, ok := c.disk[key]; ok {
				e.used = now
				c.disk[key] = e
			}
			c.mu.Unlock()
			return data, nil
		}
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	data, err := makeThumb(ctx, path, side, c.maxPixels, c.budget)
	<-c.slots
	if err != nil {
		return nil, err
	}
	if err := c.store(file, data); err != nil {
		c.log.Warn("store thumbnail", "err", err)
	} else {
		c.mu.Lock()
		c.disk[key] = diskEntry{size: int64(len(data)), used: time.Now()}
		c.diskUsed += int64(len(data))
		c.evictDisk()
		c.mu.Unlock()
	}
	return data, nil
}

// store writes a thumbnail into the cache folder through a temporary name.
func (c *thumbCache) store(file string, data []byte) error {
	tmp, err := os.CreateTemp(c.dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// remember keeps data in memory, dropping the least recently used beyond
// the bound. Called with mu held.
func (c *thumbCache) remember(key string, data []byte) {
	if int64(len(data)) > c.memMax {
		return
	}
	c.mem[key] = c.lru.PushFront(&memEntry{key: key, data: data})
	c.memUsed += int64(len(data))
	for c.memUsed > c.memMax {
		el := c.lru.Back()
		e := el.Value.(*memEntry)
		c.lru.Remove(el)
		delete(c.mem, e.key)
		c.memUsed -= int64(len(e.data))
	}
}

// evictDisk removes the least recently used thumbnails (cache files, never
// anything of the inbox) beyond the bound. Called with mu held.
func (c *thumbCache) evictDisk() {
	if c.diskUsed <= c.diskMax {
		return
	}
	keys := make([]string, 0, len(c.disk))
	for k := range c.disk {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return c.disk[a].used.Compare(c.disk[b].used) })
	for _, k := range keys {
		if c.diskUsed <= c.diskMax*9/10 {
			break
		}
		if err := os.Remove(filepath.Join(c.dir, k)); err != nil && !os.IsNotExist(err) {
			c.log.Warn("evict thumbnail", "err", err)
			continue
		}
		c.diskUsed -= c.disk[k].size
		delete(c.disk, k)
	}
}

// makeThumb decodes the image at path (imagefile.Open: native decoders
// first, its memory held from budget) and returns it shrunk by a whole
// factor (box filter) to at most side pixels on its longer side, as JPEG.
func makeThumb(ctx context.Context, path string, side int, maxPixels int64, budget *imagefile.Budget) ([]byte, error) {
	img, _, err := imagefile.Open(ctx, path, maxPixels, budget)
	if err != nil {
		return nil, fmt.Errorf("thumbnail of %s: %w", path, err)
	}
	small := shrink(img, side)
	var buf bytes.Buffer
	err = jpeg.Encode(&buf, small, &jpeg.Options{Quality: 85})
	imagefile.Recycle(img) // small is encoded; it may have shared img's pixels
	if err != nil {
		return nil, fmt.Errorf("encode thumbnail of %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

// shrink averages k×k blocks, k the smallest whole factor that brings the
// longer side to at most side.
func shrink(img image.Image, side int) image.Image {
	b := img.Bounds()
	k := max((max(b.Dx(), b.Dy())+side-1)/side, 1)
	src, ok := img.(*image.RGBA)
	if !ok {
		if n, isN := img.(*image.NRGBA); isN {
			src = &image.RGBA{Pix: n.Pix, Stride: n.Stride, Rect: n.Rect} // alpha ignored below
		} else {
			src = image.NewRGBA(b)
			draw.Draw(src, b, img, b.Min, draw.Src)
		}
	}
	if k == 1 {
		return src
	}
	w, h := b.Dx()/k, b.Dy()/k
	dst := image.NewRGBA(image.Rect(0, 0, max(w, 1), max(h, 1)))
	row := make([]uint32, 3*dst.Rect.Dx())
	n := uint32(k * k)
	for y := 0; y < dst.Rect.Dy(); y++ {
		clear(row)
		for dy := 0; dy < k; dy++ {
			line := src.Pix[(y*k+dy)*src.Stride:]
			for x := 0; x < dst.Rect.Dx(); x++ {
				p := line[x*k*4:]
				var r, g, bl uint32
				for dx := 0; dx < k; dx++ {
					r += uint32(p[dx*4])
					g += uint32(p[dx*4+1])
					bl += uint32(p[dx*4+2])
				}
				row[3*x] += r
				row[3*x+1] += g
				row[3*x+2] += bl
			}
		}
		out := dst.Pix[y*dst.Stride:]
		for x := 0; x < dst.Rect.Dx(); x++ {
			out[4*x] = uint8(row[3*x] / n)
			out[4*x+1] = uint8(row[3*x+1] / n)
			out[4*x+2] = uint8(row[3*x+2] / n)
			out[4*x+3] = 255
		}
	}
	return dst
}
