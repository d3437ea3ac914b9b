package screend

import "strings"

// Stage numbers of the generation pipeline, as file names carry them in a
// stage token ("20250708_061000_stage2_upscaled.png") and the database
// stores them in screend.images.stage.
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

// Stages lists every stage in increasing order.
var Stages = []float64{StageNone, StageGenerated, StageFaceSwapped, StageUpscaled, StageEnhanced}

// stageTokens are checked in this order, the longest token first so that
// "stage1.5" is not read as "stage1".
var stageTokens = []struct {
	token string
	stage float64
}{
	{"stage1.5_face_swapped", StageFaceSwapped},
	{"stage1_generated", StageGenerated},
	{"stage2_upscaled", StageUpscaled},
	{"stage3_enhanced", StageEnhanced},
}

// StageOf returns the stage named by the first stage token found in s
// (case-insensitive), or StageNone when s holds none.
func StageOf(s string) float64 {
	l := strings.ToLower(s)
	for _, t := range stageTokens {
		if strings.Contains(l, t.token) {
			return t.stage
		}
	}
	return StageNone
}
