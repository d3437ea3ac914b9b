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

// ManyScansJPEG is a valid 8x8 grey progressive JPEG of 1+63*(1+al)
// scans (al at most 13): the DC coefficient, then every AC coefficient
// alone with a point transform of al and refined bit by bit down to 0.
// All coefficients but DC are zero, so each scan codes one EOB. With
// al = 9 it has 631 scans, more than libjpeg-turbo's limit of 500 for
// such files (TJFLAG_LIMITSCANS), which guards against scan bombs: many
// scans of almost no data, each of which costs a pass over every block.
func ManyScansJPEG(al int) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xd8})
	b.Write(append([]byte{0xff, 0xdb, 0, 67, 0}, bytes.Repeat([]byte{1}, 64)...))
	b.Write([]byte{0xff, 0xc2, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0})
	// One code of one bit, 0, in each table: DC category 0, AC EOB.
	for _, class := range []byte{0x00, 0x10} {
		b.Write([]byte{0xff, 0xc4, 0, 20, class, 1})
		b.Write(make([]byte, 15+1))
	}
	scan := func(ss, se, ah, al byte) {
		// The scan's data: the one-bit code 0, padded with ones.
		b.Write([]byte{0xff, 0xda, 0, 8, 1, 1, 0, ss, se, ah<<4 | al, 0x7f})
	}
	scan(0, 0, 0, 0)
	for k := byte(1); k < 64; k++ {
		scan(k, k, 0, byte(al))
		for a := al - 1; a >= 0; a-- {
			scan(k, k, byte(a+1), byte(a))
		}
	}
	b.Write([]byte{0xff, 0xd9})
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
