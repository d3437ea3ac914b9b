package sql

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Linux file names are bytes, PostgreSQL text is UTF-8. A path is stored as
// a readable text form (ReadablePath) and, only when that form differs from
// the path, its exact bytes beside it in a *_raw bytea column; queries read
// screend.fs_path(text, raw), which gives the bytes back either way.

// ReadablePath returns p where it is valid UTF-8 and every byte that is
// not written as \xNN: the form of a path kept in text columns and logs.
func ReadablePath(p string) string {
	if utf8.ValidString(p) {
		return p
	}
	var b strings.Builder
	for len(p) > 0 {
		r, n := utf8.DecodeRuneInString(p)
		if r == utf8.RuneError && n <= 1 {
			fmt.Fprintf(&b, `\x%02X`, p[0])
			p = p[1:]
			continue
		}
		b.WriteString(p[:n])
		p = p[n:]
	}
	return b.String()
}

// rawPath returns the bytes of p to store beside its readable form, or nil
// when the readable form is p itself.
func rawPath(p string) []byte {
	if utf8.ValidString(p) {
		return nil
	}
	return []byte(p)
}
