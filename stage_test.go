package screend

import "testing"

func TestStageOf(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		want float64
	}{
		{"20250708_061000_stage1_generated.png", StageGenerated},
		{"20250708_061000_stage1.5_face_swapped.png", StageFaceSwapped},
		{"20250708_061000_STAGE2_UPSCALED.PNG", StageUpscaled},
		{"x_stage3_enhanced_y.webp", StageEnhanced},
		{"stage1.5_face_swapped_stage3_enhanced.png", StageFaceSwapped}, // longest token first
		{"20250708_061000_stage2.png", StageNone},
		{"", StageNone},
	} {
		if got := StageOf(c.name); got != c.want {
			t.Errorf("StageOf(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestFolders(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name              string
		reserved, working bool
	}{
		{FolderSelected, true, true},
		{FolderQuarantine, true, true},
		{"__anything", true, true},
		{"crop_auto", false, true},
		{"Selected", false, true},
		{"mojo1", false, false},
		{"_single", false, false},
	} {
		if got := IsReservedFolder(c.name); got != c.reserved {
			t.Errorf("IsReservedFolder(%q) = %v, want %v", c.name, got, c.reserved)
		}
		if got := IsWorkingFolder(c.name); got != c.working {
			t.Errorf("IsWorkingFolder(%q) = %v, want %v", c.name, got, c.working)
		}
	}
}
