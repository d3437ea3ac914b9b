package group

import (
	"cmp"
	"path/filepath"
	"strings"

	"screend"
)

// NoTimestamp is the sort timestamp of a file whose name has none.
const NoTimestamp = "99999999_999999"

// Name is what the grouping reads from a file name.
type Name struct {
	// Base is the base name of the file.
	Base string
	// Timestamp is the YYYYMMDD_HHMMSS prefix of Base, or "" when absent.
	Timestamp string
	// Stage is the stage of the token in Base, or screend.StageNone when absent.
	Stage float64
}

// Parse reads the timestamp and the stage from the base name of fileName.
func Parse(fileName string) Name {
	base := filepath.Base(fileName)
	n := Name{Base: base, Stage: screend.StageOf(base)}
	if hasTimestamp(base) {
		n.Timestamp = base[:15]
	}
	return n
}

// hasTimestamp reports whether s starts with 8 digits, '_' and 6 digits.
func hasTimestamp(s string) bool {
	if len(s) < 15 || s[8] != '_' {
		return false
	}
	for i := range 15 {
		if i != 8 && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

// SortTimestamp returns the timestamp, or NoTimestamp when there is none.
func (n Name) SortTimestamp() string {
	if n.Timestamp == "" {
		return NoTimestamp
	}
	return n.Timestamp
}

// Compare orders names by the rule's key: sort timestamp, stage, base name.
func (n Name) Compare(o Name) int {
	if c := strings.Compare(n.SortTimestamp(), o.SortTimestamp()); c != 0 {
		return c
	}
	if c := cmp.Compare(n.Stage, o.Stage); c != 0 {
		return c
	}
	return strings.Compare(n.Base, o.Base)
}

// IsImage reports whether name has an image extension (.png, .jpg, .jpeg,
// .webp, in any case).
func IsImage(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".webp":
		return true
	}
	return false
}
