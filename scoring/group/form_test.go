package group

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"screend"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// token is a file name part for each stage.
var token = map[float64]string{
	0:   "foo",
	1:   "stage1_generated",
	1.5: "stage1.5_face_swapped",
	2:   "stage2_upscaled",
	3:   "stage3_enhanced",
}

// seqFrom names one file per stage, with timestamps increasing from second
// first on, so that the list is already in sort order.
func seqFrom(first int, stages ...float64) []string {
	names := make([]string, len(stages))
	for i, s := range stages {
		names[i] = fmt.Sprintf("20250708_%06d_%s.png", first+i, token[s])
	}
	return names
}

func seq(stages ...float64) []string { return seqFrom(0, stages...) }

// repeat returns n copies of stage s.
func repeat(s float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func concat(parts ...[]float64) []float64 { return slices.Concat(parts...) }

// pick returns names[i] for every i in idx.
func pick(names []string, idx ...int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = names[j]
	}
	return out
}

type formCase struct {
	name   string
	paths  []string
	groups [][]string
	ended  []bool
}

// check runs Form on c.paths, forwards and shuffled, and compares with c.
func (c formCase) check(t *testing.T) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(len(c.paths))))
	for try := range 4 {
		in := slices.Clone(c.paths)
		switch try {
		case 1:
			slices.Reverse(in)
		case 2, 3:
			rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		}
		before := slices.Clone(in)
		groups, singles := Form(in)
		if !slices.Equal(in, before) {
			t.Fatalf("Form modified its input")
		}
		var gotPaths [][]string
		var gotEnded []bool
		for _, g := range groups {
			gotPaths = append(gotPaths, g.Paths)
			gotEnded = append(gotEnded, g.Ended)
		}
		if !slices.EqualFunc(gotPaths, c.groups, slices.Equal) {
			t.Fatalf("input %q:\n got groups %q\nwant groups %q", in, gotPaths, c.groups)
		}
		if c.ended != nil && !slices.Equal(gotEnded, c.ended) {
			t.Fatalf("input %q: groups %q: got ended %v, want %v", in, gotPaths, gotEnded, c.ended)
		}
		checkInvariants(t, in, groups, singles)
	}
}

func TestFormRule(t *testing.T) {
	t.Parallel()
	s1323 := seq(1, 3, 2, 3)
	s3323 := seq(3, 3, 2, 3)
	s11522 := seq(1, 1.5, 2, 2, 3)
	s1212 := seq(1, 2, 1, 2)
	s222 := seq(2, 2, 2)
	s1 := seq(1)
	sNoTS := []string{"foo.png", "bar_stage1_generated.png", "bar_stage2_upscaled.png"}
	sFooTS := seq(0, 1, 2)
	sMissing := []string{"zzz_stage1_generated.png", "20250708_000001_stage2_upscaled.png", "20250708_000000_stage1_generated.png"}
	sCase := []string{"20250708_000000_STAGE1_GENERATED.PNG", "20250708_000001_Stage1.5_Face_Swapped.jpg", "20250708_000002_stage2_UPSCALED.webp"}
	sSameTS := []string{"20250708_000000_stage2_upscaled.png", "20250708_000000_stage1_generated.png"}
	sSubdirs := []string{"b/20250708_000000_stage1_generated.png", "a/20250708_000000_stage1_generated.png", "c/20250708_000001_stage2_upscaled.png"}
	s1223 := seq(1, 2, 2, 3)
	s03 := seq(0, 3)
	sDown := seq(3, 2, 1.5, 1, 0)

	for _, c := range []formCase{
		{name: "1,3,2,3 orphans the first 3", paths: s1323, groups: [][]string{pick(s1323, 0, 2, 3)}},
		{name: "3,3,2,3", paths: s3323, groups: [][]string{pick(s3323, 2, 3)}},
		{name: "1,1.5,2,2,3", paths: s11522, groups: [][]string{pick(s11522, 0, 1, 2), pick(s11522, 3, 4)}},
		{name: "1,2,1,2 two pairs", paths: s1212, groups: [][]string{pick(s1212, 0, 1), pick(s1212, 2, 3)}},
		{name: "equal stages form no group", paths: s222},
		{name: "one file", paths: s1},
		{name: "empty"},
		{name: "stage-less file starts a group, no timestamps", paths: sNoTS, groups: [][]string{sNoTS}},
		{name: "stage-less file starts a group, timestamps", paths: sFooTS, groups: [][]string{sFooTS}},
		{name: "missing timestamp sorts last", paths: sMissing, groups: [][]string{pick(sMissing, 2, 1)}},
		{name: "case-insensitive tokens", paths: sCase, groups: [][]string{sCase}},
		{name: "same timestamp sorts by stage", paths: sSameTS, groups: [][]string{pick(sSameTS, 1, 0)}},
		{name: "same base name sorts by path", paths: sSubdirs, groups: [][]string{pick(sSubdirs, 0, 2)}},
		{name: "1,2,2,3", paths: s1223, groups: [][]string{pick(s1223, 0, 1), pick(s1223, 2, 3)}},
		{name: "0,3", paths: s03, groups: [][]string{s03}},
		{name: "decreasing stages form no group", paths: sDown},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.check(t)
		})
	}
}

func TestFormWindow(t *testing.T) {
	t.Parallel()
	// The 2 is 51 files after the 1: out of reach, the first 3 is taken.
	far := seq(concat([]float64{1}, repeat(3, 50), []float64{2})...)
	// The 2 is 50 files after the 1: the last one the run looks at.
	near := seq(concat([]float64{1}, repeat(3, 49), []float64{2})...)
	// The same from a stage-less file.
	far0 := seq(concat([]float64{0}, repeat(2, 50), []float64{1})...)
	near0 := seq(concat([]float64{0}, repeat(2, 49), []float64{1})...)
	for _, c := range []formCase{
		{name: "needed file 51 ahead", paths: far, groups: [][]string{pick(far, 0, 1)}, ended: []bool{true}},
		{name: "needed file 50 ahead", paths: near, groups: [][]string{pick(near, 0, 50)}, ended: []bool{false}},
		{name: "stage 0, needed file 51 ahead", paths: far0, groups: [][]string{pick(far0, 0, 1)}, ended: []bool{true}},
		{name: "stage 0, needed file 50 ahead", paths: near0, groups: [][]string{pick(near0, 0, 50)}, ended: []bool{false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.check(t)
		})
	}
}

func TestFormDuplicates(t *testing.T) {
	t.Parallel()
	s := seq(1, 2)
	groups, singles := Form([]string{s[1], s[0], s[1], s[0]})
	if len(groups) != 1 || !slices.Equal(groups[0].Paths, s) || len(singles) != 0 {
		t.Errorf("duplicates: got %v, %q", groups, singles)
	}
}

func TestFormEnded(t *testing.T) {
	t.Parallel()
	s3a := seq(concat([]float64{1}, repeat(3, 50))...)
	tsThenNoTS := append(seq(1, 1.5, 2), "foo.png")
	noTSStopped := []string{"a_foo.png", "b_stage1_generated.png", "c_stage2_upscaled.png", "d_stage2_upscaled.png"}
	for _, c := range []formCase{
		{name: "last file, stage below 3", paths: seq(1, 1.5, 2), groups: [][]string{seq(1, 1.5, 2)}, ended: []bool{false}},
		{name: "later lower stage ends it", paths: seq(1, 1.5, 2, 1), groups: [][]string{seq(1, 1.5, 2)}, ended: []bool{true}},
		{name: "later equal stage ends it", paths: seq(1, 1.5, 2, 2), groups: [][]string{seq(1, 1.5, 2)}, ended: []bool{true}},
		{name: "pair ended by a lower stage", paths: seq(1, 2, 1), groups: [][]string{seq(1, 2)}, ended: []bool{true}},
		{name: "reaches stage 3", paths: seq(1, 1.5, 2, 3), groups: [][]string{seq(1, 1.5, 2, 3)}, ended: []bool{true}},
		{name: "reaches stage 3 from 2", paths: seq(2, 3), groups: [][]string{seq(2, 3)}, ended: []bool{true}},
		{name: "reaches stage 3 followed by more", paths: seq(1, 1.5, 2, 3, 1), groups: [][]string{seq(1, 1.5, 2, 3)}, ended: []bool{true}},
		// A 1.5 arriving later would be taken instead of the 2.
		{name: "reaches stage 3 skipping 1.5", paths: seq(1, 2, 3), groups: [][]string{seq(1, 2, 3)}, ended: []bool{false}},
		{name: "reaches stage 3 skipping 1.5 and 2", paths: seq(1, 3), groups: [][]string{seq(1, 3)}, ended: []bool{false}},
		{name: "stopped at an equal stage, choice still open", paths: seq(1, 2, 2), groups: [][]string{seq(1, 2)}, ended: []bool{false}},
		{name: "skip closed by a later stopper", paths: seq(1, 2, 3, 1), groups: [][]string{seq(1, 2, 3)}, ended: []bool{true}},
		{
			name: "an open group keeps later groups open", paths: seq(1, 2, 2, 3),
			groups: [][]string{seq(1, 2), seqFrom(2, 2, 3)}, ended: []bool{false, false},
		},
		{
			name: "closed groups before an open one", paths: seq(1, 1.5, 2, 1, 1.5, 2, 1, 1.5),
			groups: [][]string{seq(1, 1.5, 2), seqFrom(3, 1, 1.5, 2), seqFrom(6, 1, 1.5)}, ended: []bool{true, true, false},
		},
		{name: "window full of existing files", paths: s3a, groups: [][]string{pick(s3a, 0, 1)}, ended: []bool{true}},
		// A new timestamped 3 would sort before foo.png and extend the group.
		{name: "stopper without timestamp", paths: tsThenNoTS, groups: [][]string{seq(1, 1.5, 2)}, ended: []bool{false}},
		// A new x_stage1.5_face_swapped.png would sort between the 1 and the
		// 2 and be taken instead of the 2, although d_stage2 stops the run.
		{name: "no timestamps, never ended", paths: noTSStopped, groups: [][]string{pick(noTSStopped, 0, 1, 2)}, ended: []bool{false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.check(t)
		})
	}
}

// TestFormEndedLater runs Form before and after later files arrive.
func TestFormEndedLater(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		before, later []float64
		beforeGroups  [][]int // indices into before+later
		beforeEnded   []bool
		afterGroups   [][]int
		afterEnded    []bool
	}{
		{
			name: "lower stage ends a group", before: []float64{1, 1.5, 2}, later: []float64{1},
			beforeGroups: [][]int{{0, 1, 2}}, beforeEnded: []bool{false},
			afterGroups: [][]int{{0, 1, 2}}, afterEnded: []bool{true},
		},
		{
			name: "equal stage ends a group", before: []float64{1, 1.5, 2}, later: []float64{2},
			beforeGroups: [][]int{{0, 1, 2}}, beforeEnded: []bool{false},
			afterGroups: [][]int{{0, 1, 2}}, afterEnded: []bool{true},
		},
		{
			name: "equal stage leaves a pair that skipped 1.5 open", before: []float64{1, 2}, later: []float64{2},
			beforeGroups: [][]int{{0, 1}}, beforeEnded: []bool{false},
			afterGroups: [][]int{{0, 1}}, afterEnded: []bool{false},
		},
		{
			name: "open group extended", before: []float64{1, 1.5}, later: []float64{2, 3},
			beforeGroups: [][]int{{0, 1}}, beforeEnded: []bool{false},
			afterGroups: [][]int{{0, 1, 2, 3}}, afterEnded: []bool{true},
		},
		{
			name: "stopped at an equal stage, then changed", before: []float64{1, 2, 2}, later: []float64{1.5},
			beforeGroups: [][]int{{0, 1}}, beforeEnded: []bool{false},
			afterGroups: [][]int{{0, 3}}, afterEnded: []bool{false},
		},
		{
			name: "stage 3 skipping stages, then changed", before: []float64{1, 3}, later: []float64{2},
			beforeGroups: [][]int{{0, 1}}, beforeEnded: []bool{false},
			afterGroups: [][]int{{0, 2}}, afterEnded: []bool{false},
		},
		{
			name: "later group destroyed", before: []float64{1, 2, 2, 3}, later: []float64{1.5, 1},
			beforeGroups: [][]int{{0, 1}, {2, 3}}, beforeEnded: []bool{false, false},
			afterGroups: [][]int{{0, 4}}, afterEnded: []bool{true},
		},
		{
			name: "single becomes a group", before: []float64{1, 1.5, 2, 1}, later: []float64{2},
			beforeGroups: [][]int{{0, 1, 2}}, beforeEnded: []bool{true},
			afterGroups: [][]int{{0, 1, 2}, {3, 4}}, afterEnded: []bool{true, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			all := seq(concat(tt.before, tt.later)...)
			toPaths := func(idx [][]int) [][]string {
				var out [][]string
				for _, g := range idx {
					out = append(out, pick(all, g...))
				}
				return out
			}
			formCase{paths: all[:len(tt.before)], groups: toPaths(tt.beforeGroups), ended: tt.beforeEnded}.check(t)
			formCase{paths: all, groups: toPaths(tt.afterGroups), ended: tt.afterEnded}.check(t)
		})
	}
}

// manifest is the part of test_manifest.json the tests read.
type manifest struct {
	TotalFiles int `json:"total_files"`
	Groups     []struct {
		Files []struct {
			Filename string `json:"filename"`
			Stage    string `json:"stage"`
		} `json:"files"`
	} `json:"groups"`
}

func readManifest(t *testing.T) (names []string, stageOf map[string]string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "test_manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decode manifest: %v", err)
	}
	stageOf = map[string]string{}
	for _, g := range m.Groups {
		for _, f := range g.Files {
			names = append(names, f.Filename)
			stageOf[f.Filename] = f.Stage
		}
	}
	if len(names) != m.TotalFiles {
		t.Fatalf("manifest lists %d files, says %d", len(names), m.TotalFiles)
	}
	return names, stageOf
}

func TestParseManifest(t *testing.T) {
	t.Parallel()
	names, stageOf := readManifest(t)
	// The manifest spells stage 3 "stage3_enhanced" and the others "stageN".
	want := map[string]float64{"stage1": 1, "stage1.5": 1.5, "stage2": 2, "stage3_enhanced": 3}
	for _, n := range names {
		p := Parse(n)
		if p.Timestamp == "" || p.Timestamp != n[:15] {
			t.Errorf("Parse(%q).Timestamp = %q", n, p.Timestamp)
		}
		if s, ok := want[stageOf[n]]; !ok || p.Stage != s {
			t.Errorf("Parse(%q).Stage = %v, manifest says %q", n, p.Stage, stageOf[n])
		}
		if !IsImage(n) {
			t.Errorf("IsImage(%q) = false", n)
		}
	}
}

func TestFormManifest(t *testing.T) {
	t.Parallel()
	names, _ := readManifest(t)
	groups, singles := Form(names)
	checkInvariants(t, names, groups, singles)

	shapes := map[string]int{}
	ended := 0
	for _, g := range groups {
		var shape []string
		for _, p := range g.Paths {
			shape = append(shape, fmt.Sprint(Parse(p).Stage))
		}
		shapes[strings.Join(shape, ",")]++
		if g.Ended {
			ended++
		}
	}
	wantShapes := map[string]int{"1,1.5,2": 119, "1,2,3": 1, "1,1.5": 1}
	if fmt.Sprint(shapes) != fmt.Sprint(wantShapes) {
		t.Errorf("group shapes: got %v, want %v", shapes, wantShapes)
	}
	if len(groups) != 121 || len(singles) != 0 {
		t.Errorf("got %d groups and %d singles, want 121 and 0", len(groups), len(singles))
	}
	// Only the last group, ending in the last file at stage 2, is open.
	if ended != 120 || groups[len(groups)-1].Ended {
		t.Errorf("got %d ended groups, want all but the last", ended)
	}

	var b strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&b, "%v\t%s\n", g.Ended, strings.Join(g.Paths, " "))
	}
	for _, s := range singles {
		fmt.Fprintf(&b, "single\t%s\n", s)
	}
	golden := filepath.Join("testdata", "test_manifest.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("groups differ from %s (run with -update to rewrite it)", golden)
	}
}

// checkInvariants checks that groups and singles partition the distinct
// paths, that groups have two or more files with strictly increasing stages,
// and that both match the reference implementation.
func checkInvariants(t *testing.T, paths []string, groups []Group, singles []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, g := range groups {
		if len(g.Paths) < 2 {
			t.Fatalf("group %q has fewer than 2 files", g.Paths)
		}
		for i, p := range g.Paths {
			if seen[p] {
				t.Fatalf("%q appears twice", p)
			}
			seen[p] = true
			if i > 0 && Parse(p).Stage <= Parse(g.Paths[i-1]).Stage {
				t.Fatalf("group %q: stages not strictly increasing", g.Paths)
			}
		}
	}
	for _, s := range singles {
		if seen[s] {
			t.Fatalf("%q appears twice", s)
		}
		seen[s] = true
	}
	distinct := map[string]bool{}
	for _, p := range paths {
		distinct[p] = true
	}
	if len(seen) != len(distinct) {
		t.Fatalf("%d paths in groups and singles, %d in the input", len(seen), len(distinct))
	}
	for p := range distinct {
		if !seen[p] {
			t.Fatalf("%q is lost", p)
		}
	}
	if !slices.IsSortedFunc(singles, func(a, b string) int { return refCompare(a, b) }) {
		t.Fatalf("singles not in sort order: %q", singles)
	}

	wantGroups, wantSingles := refForm(paths)
	var got [][]string
	for _, g := range groups {
		got = append(got, g.Paths)
	}
	if !slices.EqualFunc(got, wantGroups, slices.Equal) {
		t.Fatalf("input %q:\n got %q\nwant %q (reference)", paths, got, wantGroups)
	}
	if !slices.Equal(singles, wantSingles) {
		t.Fatalf("input %q: singles\n got %q\nwant %q (reference)", paths, singles, wantSingles)
	}
}

// refCompare orders paths as the doc says, from scratch.
func refCompare(a, b string) int {
	key := func(p string) (string, float64, string) {
		base := p[strings.LastIndex(p, "/")+1:]
		ts := refTimestamp(base)
		if ts == "" {
			ts = "99999999_999999"
		}
		return ts, refStage(base), base
	}
	ta, sa, ba := key(a)
	tb, sb, bb := key(b)
	switch {
	case ta != tb:
		return strings.Compare(ta, tb)
	case sa < sb:
		return -1
	case sa > sb:
		return 1
	case ba != bb:
		return strings.Compare(ba, bb)
	}
	return strings.Compare(a, b)
}

// refForm is the rule as the doc words it, step by step on a sorted list of
// stages: no shared code with Form beyond Parse-like helpers.
func refForm(paths []string) (groups [][]string, singles []string) {
	list := slices.Clone(paths)
	sort.Slice(list, func(i, j int) bool { return refCompare(list[i], list[j]) < 0 })
	list = slices.Compact(list)
	stage := make([]float64, len(list))
	for i, p := range list {
		stage[i] = refStage(p[strings.LastIndex(p, "/")+1:])
	}

	inGroup := make([]bool, len(list))
	cur := 0
	for cur < len(list) {
		run := []int{cur}
		next := cur + 1
		for {
			last := stage[run[len(run)-1]]
			// The files seen: at most 50, cut before the first one that
			// does not go up.
			seen := stage[next:min(next+50, len(stage))]
			if stop := slices.IndexFunc(seen, func(s float64) bool { return s <= last }); stop >= 0 {
				seen = seen[:stop]
			}
			if len(seen) == 0 {
				break
			}
			// The smallest stage among them, its earliest occurrence.
			at := slices.Index(seen, slices.Min(seen))
			run = append(run, next+at)
			next += at + 1
		}
		if len(run) > 1 {
			var g []string
			for _, i := range run {
				g = append(g, list[i])
				inGroup[i] = true
			}
			groups = append(groups, g)
		}
		cur = next
	}
	for i, p := range list {
		if !inGroup[i] {
			singles = append(singles, p)
		}
	}
	return groups, singles
}

// randomNames makes n file names from a generator: biased stages, ties in
// timestamps, files without timestamps, equal base names in other folders.
func randomNames(rng *rand.Rand, n int) []string {
	weights := make([]int, len(screend.Stages))
	for i := range weights {
		weights[i] = rng.IntN(10)
	}
	weights[rng.IntN(len(weights))]++
	total := 0
	for _, w := range weights {
		total += w
	}
	noTS := rng.IntN(4) == 0
	names := make([]string, n)
	sec := 0
	for i := range names {
		r := rng.IntN(total)
		k := 0
		for r >= weights[k] {
			r -= weights[k]
			k++
		}
		if rng.IntN(3) > 0 {
			sec++
		}
		base := fmt.Sprintf("20250708_%06d_%s.png", sec, token[screend.Stages[k]])
		if noTS && rng.IntN(8) == 0 {
			base = fmt.Sprintf("%c_%s.png", 'a'+rng.IntN(3), token[screend.Stages[k]])
		}
		names[i] = fmt.Sprintf("d%d/%s", rng.IntN(3), base)
	}
	return names
}

func TestFormMatchesReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	for range 1000 {
		names := randomNames(rng, rng.IntN(200))
		groups, singles := Form(names)
		checkInvariants(t, names, groups, singles)
	}
}

// fuzzNames turns bytes into file names: the low bits choose the stage, the
// next ones whether the timestamp moves on and the case of the token, and
// bytes from 240 up give files without timestamps. from offsets the
// timestamps so that later batches sort after earlier ones.
func fuzzNames(data []byte, from int) []string {
	names := make([]string, len(data))
	sec := from
	for i, b := range data {
		tok := token[screend.Stages[b%5]]
		if (b/5)%3 != 0 {
			sec++
		}
		if (b/15)%2 == 1 {
			tok = strings.ToUpper(tok)
		}
		base := fmt.Sprintf("20250708_%06d_%s.png", sec, tok)
		if b >= 240 {
			base = fmt.Sprintf("%c_%s.png", 'a'+b%3, tok)
		}
		// Folders never count for grouping, even when they hold a token.
		names[i] = fmt.Sprintf("stage3_enhanced_%d_%d/%s", from, i%4, base)
	}
	return names
}

func FuzzForm(f *testing.F) {
	f.Add([]byte{1, 3, 2, 3}, []byte{})
	f.Add([]byte{1, 2, 2, 4}, []byte{2})
	f.Add([]byte{1, 2, 3, 1, 3, 3}, []byte{4, 1, 2})
	f.Add(append([]byte{1}, slices.Repeat([]byte{4}, 50)...), []byte{3, 1})
	f.Add([]byte{0, 241, 242, 250}, []byte{246, 1})
	f.Fuzz(func(t *testing.T, data, later []byte) {
		before := fuzzNames(data, 0)
		groups, singles := Form(before)
		checkInvariants(t, before, groups, singles)

		// Files arriving later: timestamps after all of before, or none.
		all := append(before, fuzzNames(later, len(data)+1)...)
		afterGroups, afterSingles := Form(all)
		checkInvariants(t, all, afterGroups, afterSingles)

		// An Ended group stays as it is, and Ended, whatever arrives later.
		for _, g := range groups {
			if !g.Ended {
				continue
			}
			if !slices.ContainsFunc(afterGroups, func(a Group) bool {
				return a.Ended && slices.Equal(a.Paths, g.Paths)
			}) {
				t.Fatalf("ended group %q changed when %q arrived:\n%v", g.Paths, all[len(before):], afterGroups)
			}
		}
		// Ended groups come first.
		for i := 1; i < len(groups); i++ {
			if groups[i].Ended && !groups[i-1].Ended {
				t.Fatalf("ended group after an open one: %v", groups)
			}
		}
	})
}

// TestEndedIsSound is FuzzForm's Ended check on long random lists.
func TestEndedIsSound(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 5))
	for range 1000 {
		data := make([]byte, rng.IntN(120))
		later := make([]byte, rng.IntN(60))
		for _, b := range [][]byte{data, later} {
			bias := byte(rng.IntN(5))
			for i := range b {
				b[i] = byte(rng.IntN(256))
				if rng.IntN(2) == 0 { // long stretches of one stage
					b[i] = b[i] - b[i]%5 + bias
				}
			}
		}
		before := fuzzNames(data, 0)
		groups, _ := Form(before)
		after, _ := Form(append(before, fuzzNames(later, len(data)+1)...))
		for _, g := range groups {
			if g.Ended && !slices.ContainsFunc(after, func(a Group) bool { return a.Ended && slices.Equal(a.Paths, g.Paths) }) {
				t.Fatalf("ended group %q changed", g.Paths)
			}
		}
	}
}
