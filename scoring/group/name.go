package group

import (
	"cmp"
	"path/filepath"
	"strings"
)

// Stage numbers of the generation pipeline.
const (
	// StageNone is the stage of a file without a stage token.
	StageNone float64 = 0
	// StageGenerated is the stage of "stage1_generated" files.
	StageGenerated float64 = 1
	// StageFaceSwapped is the stage of "stage1.5_face_swapped" files.
	StageFaceSwapped float64 = 1.5
	// StageUpscaled is the stage of "stage2_upscaled" files.
	StageUpscaled float64 = 2
	// StageEnhanced is the stage of "stage3_enhanced" files, the top stage.
	StageEnhanced float64 = 3
)

// NoTimestamp is the sort timestamp of a file whose name has none.
const NoTimestamp = "99999999_999999"

// stageTokens are checked in this order, the longest token first; the first
// token found in the lower-cased name decides the stage.
var stageTokens = []struct {
	token string
	stage float64
}{
	{"stage1.5_face_swapped", StageFaceSwapped},
	{"stage1_generated", StageGenerated},
	{"stage2_upscaled", StageUpscaled},
	{"stage3_enhanced", StageEnhanced},
}

// Name is what the grouping reads from a file name.
type Name struct {
	// Base is the base name of the file.
	Base string
	// Timestamp is the YYYYMMDD_HHMMSS prefix of Base, or "" when absent.
	Timestamp string
	// Stage is the stage of the token in Base, or StageNone when absent.
	Stage float64
}

// Parse reads the timestamp and the stage from the base name of fileName.
func Parse(fileName string) Name {
	base := filepath.Base(fileName)
	n := Name{Base: base, Stage: StageNone}
	if hasTimestamp(base) {
		n.Timestamp = base[:15]
	}
	lower := strings.ToLower(base)
	for _, t := range stageTokens {
		if strings.Contains(lower, t.token) {
			n.Stage = t.stage
			break
		}
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
