package group

import (
	"slices"
	"strings"
	"testing"

	"screend"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		base      string
		timestamp string
		stage     float64
	}{
		{"20250708_060558_stage1_generated.png", "20250708_060558_stage1_generated.png", "20250708_060558", 1},
		{"20250708_060612_stage1.5_face_swapped.png", "20250708_060612_stage1.5_face_swapped.png", "20250708_060612", 1.5},
		{"20250708_060730_stage2_upscaled.png", "20250708_060730_stage2_upscaled.png", "20250708_060730", 2},
		{"20250708_060915_stage3_enhanced.png", "20250708_060915_stage3_enhanced.png", "20250708_060915", 3},
		{"sub/dir/20250708_060558_stage2_upscaled.webp", "20250708_060558_stage2_upscaled.webp", "20250708_060558", 2},
		// Tokens are case-insensitive substrings.
		{"20250708_060558_STAGE1_GENERATED.PNG", "20250708_060558_STAGE1_GENERATED.PNG", "20250708_060558", 1},
		{"x_Stage1.5_Face_Swapped_v2.jpg", "x_Stage1.5_Face_Swapped_v2.jpg", "", 1.5},
		{"my-stage3_enhancedfinal.png", "my-stage3_enhancedfinal.png", "", 3},
		// Only the base name counts, not the folders.
		{"stage3_enhanced/foo.png", "foo.png", "", 0},
		{"20250708_060558/foo.png", "foo.png", "", 0},
		// Near misses are stage 0.
		{"20250708_060558_stage1.png", "20250708_060558_stage1.png", "20250708_060558", 0},
		{"stage1_5_face_swapped.png", "stage1_5_face_swapped.png", "", 0},
		{"stage2-upscaled.png", "stage2-upscaled.png", "", 0},
		// With two tokens the longer one wins.
		{"a_stage2_upscaled_stage1.5_face_swapped.png", "a_stage2_upscaled_stage1.5_face_swapped.png", "", 1.5},
		{"a_stage3_enhanced_stage1_generated.png", "a_stage3_enhanced_stage1_generated.png", "", 1},
		{"a_stage1_generated_stage1.5_face_swapped.png", "a_stage1_generated_stage1.5_face_swapped.png", "", 1.5},
		// Timestamps: digit-based, at the start only, no calendar check.
		{"20251340_256199_stage1_generated.png", "20251340_256199_stage1_generated.png", "20251340_256199", 1},
		{"20250708_0605581_x.png", "20250708_0605581_x.png", "20250708_060558", 0},
		{"20250708_060558", "20250708_060558", "20250708_060558", 0},
		{"x20250708_060558_stage1_generated.png", "x20250708_060558_stage1_generated.png", "", 1},
		{"20250708-060558_stage1_generated.png", "20250708-060558_stage1_generated.png", "", 1},
		{"2025070_060558_stage1_generated.png", "2025070_060558_stage1_generated.png", "", 1},
		{"20250708_06055_stage1_generated.png", "20250708_06055_stage1_generated.png", "", 1},
		{"2025O708_060558.png", "2025O708_060558.png", "", 0},
		{"２0250708_060558.png", "２0250708_060558.png", "", 0}, // full-width digit
		{"", ".", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got := Parse(tt.in)
			want := Name{Base: tt.base, Timestamp: tt.timestamp, Stage: tt.stage}
			if got != want {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, want)
			}
		})
	}
}

func TestSortTimestamp(t *testing.T) {
	t.Parallel()
	if got := Parse("foo.png").SortTimestamp(); got != NoTimestamp {
		t.Errorf("no timestamp: got %q, want %q", got, NoTimestamp)
	}
	if got := Parse("20250708_060558_foo.png").SortTimestamp(); got != "20250708_060558" {
		t.Errorf("timestamp: got %q", got)
	}
}

func TestIsImage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"a.png", true},
		{"a.PNG", true},
		{"a.jpg", true},
		{"a.JPeG", true},
		{"a.webp", true},
		{"dir.png/a.WEBP", true},
		{"a.yaml", false},
		{"a.caption", false},
		{"a.txt", false},
		{"20250708_060558.decision", false},
		{"a.png.yaml", false},
		{"png", false},
		{".png", true},
		{"a.gif", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsImage(tt.in); got != tt.want {
			t.Errorf("IsImage(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSort(t *testing.T) {
	t.Parallel()
	in := []string{
		"foo.png",
		"b/20250101_000000_stage2_upscaled.png",
		"bar_stage1_generated.png",
		"z/20250101_000000_stage1_generated.png",
		"a/20250101_000000_stage1_generated.png",
		"20250101_000000_Stage1_Generated.png",
		"20241231_235959_stage3_enhanced.png",
		"20250101_000000_x.png",
		"aaa.png",
	}
	want := []string{
		"20241231_235959_stage3_enhanced.png",
		"20250101_000000_x.png",                  // stage 0 first
		"20250101_000000_Stage1_Generated.png",   // base names compare byte-wise: 'S' < 's'
		"a/20250101_000000_stage1_generated.png", // same base name: path decides
		"z/20250101_000000_stage1_generated.png",
		"b/20250101_000000_stage2_upscaled.png",
		"aaa.png", // no timestamp: last, by stage then base name
		"foo.png",
		"bar_stage1_generated.png",
	}
	got := slices.Clone(in)
	Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("Sort:\n got %q\nwant %q", got, want)
	}
	// Duplicates are kept by Sort.
	dup := []string{"b.png", "a.png", "c.png", "a.png"}
	Sort(dup)
	if !slices.Equal(dup, []string{"a.png", "a.png", "b.png", "c.png"}) {
		t.Errorf("Sort with duplicates: got %q", dup)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"20250708_060558_stage1_generated.png",
		"20250708_060558_stage1.5_face_swapped.png",
		"x/20250708_060558_STAGE2_UPSCALED.JPG",
		"stage3_enhanced.webp",
		"20251340_999999",
		"foo.png",
		"",
		"\xff\xfe_stage1_generated",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Parse(s)
		if n.Base == "" || strings.Contains(n.Base, "/") && n.Base != "/" {
			t.Fatalf("Parse(%q).Base = %q", s, n.Base)
		}
		// The timestamp is exactly the digit pattern at the start of the base.
		if n.Timestamp != "" {
			if !strings.HasPrefix(n.Base, n.Timestamp) || len(n.Timestamp) != 15 {
				t.Fatalf("Parse(%q).Timestamp = %q, not a prefix of %q", s, n.Timestamp, n.Base)
			}
		}
		if want := refTimestamp(n.Base); n.Timestamp != want {
			t.Fatalf("Parse(%q).Timestamp = %q, want %q", s, n.Timestamp, want)
		}
		if !slices.Contains(screend.Stages, n.Stage) {
			t.Fatalf("Parse(%q).Stage = %v, not a stage", s, n.Stage)
		}
		if want := refStage(n.Base); n.Stage != want {
			t.Fatalf("Parse(%q).Stage = %v, want %v", s, n.Stage, want)
		}
		// Flipping the case of ASCII letters changes nothing but Base.
		flipped := Parse(flipASCIICase(s))
		if flipped.Stage != n.Stage || flipped.Timestamp != n.Timestamp {
			t.Fatalf("case matters: Parse(%q) = %+v, Parse(%q) = %+v", s, n, flipASCIICase(s), flipped)
		}
		if n.Compare(n) != 0 {
			t.Fatalf("Parse(%q) does not compare equal to itself", s)
		}
	})
}

// refTimestamp is the timestamp rule written as a per-position pattern.
func refTimestamp(base string) string {
	const pattern = "dddddddd_dddddd"
	if len(base) < len(pattern) {
		return ""
	}
	for i, p := range pattern {
		c := base[i]
		if p == 'd' && !strings.ContainsRune("0123456789", rune(c)) || p == '_' && c != '_' {
			return ""
		}
	}
	return base[:len(pattern)]
}

// refStage finds every token in base and keeps the longest.
func refStage(base string) float64 {
	lower := strings.ToLower(base)
	best, bestLen := 0.0, 0
	for token, stage := range map[string]float64{
		"stage1_generated":      1,
		"stage1.5_face_swapped": 1.5,
		"stage2_upscaled":       2,
		"stage3_enhanced":       3,
	} {
		// stage2_upscaled and stage3_enhanced have the same length; when both
		// occur, the lower stage is checked first.
		if strings.Contains(lower, token) && (len(token) > bestLen || len(token) == bestLen && stage < best) {
			best, bestLen = stage, len(token)
		}
	}
	return best
}

func flipASCIICase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}
