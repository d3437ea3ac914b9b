// Package imagefiletest makes hostile image files for tests and the fault
// harness: small files whose headers promise decodes far larger than
// themselves.
package imagefiletest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// ProgressiveJPEGBomb is a 271-byte progressive JPEG header declaring
// w x h: decoders allocate its coefficients before reading any data.
func ProgressiveJPEGBomb(w, h int) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0})
	b.Write(append([]byte{0xff, 0xdb, 0, 67, 0}, bytes.Repeat([]byte{1}, 64)...))
	b.Write([]byte{0xff, 0xc2, 0, 17, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0})
	b.Write(bytes.Repeat([]byte{0}, 271-b.Len()))
	return b.Bytes()
}

// FlatPNG16 is a valid, flat 16-bit RGBA PNG: 630 KB for 9000x9000, which
// takes 648 MB to decode.
func FlatPNG16(w, h int) []byte {
	var b, idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	row := make([]byte, 1+w*8)
	for range h {
		zw.Write(row)
	}
	zw.Close()
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6
	chunk("IHDR", ihdr)
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}
