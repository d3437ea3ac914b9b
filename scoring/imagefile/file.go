package imagefile

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"

	"golang.org/x/sync/semaphore"
)

// ErrUnreadable means the file could not be opened or its size read (a
// permission, a file that went away); it says nothing of the image.
var ErrUnreadable = errors.New("unreadable")

// Budget bounds the memory that decodes running at once hold together:
// each takes what its file and pixels need (Info.ReadDecodeBytes) before
// the file is read, and gives it back when done. A nil *Budget bounds
// nothing. The daemon's decode workers, its thumbnails and its crops share
// one (SCREEND_DECODE_MEMORY_MB).
type Budget struct {
	sem   *semaphore.Weighted
	bytes int64
}

// NewBudget returns a Budget of bytes.
func NewBudget(bytes int64) *Budget {
	return &Budget{sem: semaphore.NewWeighted(bytes), bytes: bytes}
}

// acquire takes the cost of decoding info from a file of size bytes,
// waiting for other decodes to give memory back. A decode that alone
// needs more than the whole budget is ErrTooLarge.
func (b *Budget) acquire(ctx context.Context, info Info, size int64) (int64, error) {
	cost := info.ReadDecodeBytes(size)
	if b == nil {
		return 0, nil
	}
	if cost > b.bytes {
		return 0, fmt.Errorf("%w: decoding %dx%d takes %d MB, more than the decode memory budget (%d MB)",
			ErrTooLarge, info.Width, info.Height, cost>>20, b.bytes>>20)
	}
	if err := b.sem.Acquire(ctx, cost); err != nil {
		return 0, err
	}
	return cost, nil
}

// File is an image file read whole for decoding: its header checked and
// the memory its decode takes held from a Budget. Close it.
type File struct {
	// Data is the file's content, in a buffer from Buffer.
	Data []byte
	// Info is what the header declares.
	Info Info

	maxPixels int64
	budget    *Budget
	cost      int64
}

// ReadFile reads the image file at path for decoding, the way every caller
// decodes a file: it checks the header through a reader that stops after
// HeaderLimit bytes (CheckHeader: format, sides, maxPixels, plausibility;
// DefaultMaxPixels if maxPixels <= 0), takes what decoding it costs from
// budget (waiting until ctx ends), and only then reads the file whole.
// Errors are classified (Reason) and do not name the path: ErrUnreadable
// when the file cannot be opened, ErrTruncated when it ends before its
// size.
func ReadFile(ctx context.Context, path string, maxPixels int64, budget *Budget) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	info, err := CheckHeader(f, st.Size(), maxPixels)
	if err != nil {
		return nil, err
	}
	cost, err := budget.acquire(ctx, info, st.Size())
	if err != nil {
		return nil, err
	}
	file := &File{Info: info, maxPixels: maxPixels, budget: budget, cost: cost}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		file.Close()
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	file.Data = Buffer(int(st.Size()))
	if _, err := io.ReadFull(f, file.Data); err != nil {
		file.Close()
		return nil, fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	return file, nil
}

// Decode decodes the file's pixels with DecodeBytes: natively where a
// native decoder applies, else with Go's decoders. The image does not
// refer to Data.
func (f *File) Decode() (image.Image, Info, error) {
	return DecodeBytes(f.Data, f.maxPixels)
}

// Close gives the file's buffer and its share of the budget back. Data
// must not be used afterwards.
func (f *File) Close() {
	if f.Data != nil {
		RecycleBuffer(f.Data)
		f.Data = nil
	}
	if f.cost > 0 {
		f.budget.sem.Release(f.cost)
		f.cost = 0
	}
}

// Open decodes the image file at path as ReadFile and File.Decode do,
// allowing at most maxPixels pixels (DefaultMaxPixels if maxPixels <= 0)
// and holding the decode's memory from budget (nil: none) while it runs.
// Errors are wrapped with the path. The image's pixels may come from the
// pools Recycle feeds; a caller that is done with it may hand it back.
func Open(ctx context.Context, path string, maxPixels int64, budget *Budget) (image.Image, Info, error) {
	f, err := ReadFile(ctx, path, maxPixels, budget)
	if err != nil {
		return nil, Info{}, fmt.Errorf("decode %s: %w", path, err)
	}
	defer f.Close()
	img, info, err := f.Decode()
	if err != nil {
		return nil, info, fmt.Errorf("decode %s: %w", path, err)
	}
	return img, info, nil
}
