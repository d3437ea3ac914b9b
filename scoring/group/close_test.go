package group

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRegroup(t *testing.T) {
	t.Parallel()
	const (
		s1   = "20250708_060000_stage1_generated.png"
		s15  = "20250708_060000_stage1.5_face_swapped.png"
		s2   = "20250708_060000_stage2_upscaled.png"
		s3   = "20250708_060000_stage3_enhanced.png"
		b1   = "20250708_070000_stage1_generated.png"
		b2   = "20250708_070000_stage2_upscaled.png"
		lone = "20250708_080000_stage1_generated.png"
	)
	done := func(id int64, p string) Member { return Member{ID: id, RelPath: p, Processed: true} }
	todo := func(id int64, p string) Member { return Member{ID: id, RelPath: p} }
	settle := 2 * time.Minute
	for _, c := range []struct {
		name    string
		members []Member
		quiet   time.Duration
		want    []Formed
	}{
		{"ended group in a burst stays open", []Member{done(1, s1), done(4, s15), done(2, s2), done(3, s3)}, time.Second,
			[]Formed{{ImageIDs: []int64{1, 4, 2, 3}}}},
		{"ended group closes once the burst is quiet", []Member{done(1, s1), done(4, s15), done(2, s2), done(3, s3)}, BurstQuiet,
			[]Formed{{ImageIDs: []int64{1, 4, 2, 3}, Closed: true}}},
		{"out of order arrival waits for settle", []Member{done(3, s3), done(1, s1), done(4, s15), done(2, s2)}, BurstQuiet,
			[]Formed{{ImageIDs: []int64{1, 4, 2, 3}}}},
		{"out of order arrival closes when settled", []Member{done(3, s3), done(1, s1), done(2, s2)}, settle,
			[]Formed{{ImageIDs: []int64{1, 2, 3}, Closed: true}}},
		{"an unprocessed image keeps its group open", []Member{done(1, s1), todo(2, s2), done(3, s3)}, settle,
			[]Formed{{ImageIDs: []int64{1, 2, 3}}}},
		{"a group that may still grow stays open until settled", []Member{done(1, b1), done(2, b2)}, BurstQuiet,
			[]Formed{{ImageIDs: []int64{1, 2}}}},
		{"settled: a lone image is a closed group of one", []Member{done(1, b1), done(2, b2), done(3, lone)}, settle,
			[]Formed{{ImageIDs: []int64{1, 2}, Closed: true}, {ImageIDs: []int64{3}, Closed: true}}},
		{"settled: a lone unprocessed image waits", []Member{todo(3, lone)}, settle, nil},
		{"not settled: no groups of one", []Member{done(3, lone)}, BurstQuiet, nil},
		{"the second file at a path waits", []Member{done(1, s1), done(2, s2), done(9, s2)}, settle,
			[]Formed{{ImageIDs: []int64{1, 2}, Closed: true}}},
	} {
		got, inOrder := Regroup(c.members, c.quiet, settle)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
		if wantInOrder := !strings.HasPrefix(c.name, "out of order"); inOrder != wantInOrder {
			t.Errorf("%s: in order %v, want %v", c.name, inOrder, wantInOrder)
		}
		if closed := slices.ContainsFunc(got, func(f Formed) bool { return f.Closed }); closed && !MayClose(c.quiet, settle, inOrder) {
			t.Errorf("%s: a group closed where MayClose is false", c.name)
		}
	}
}

func TestMayClose(t *testing.T) {
	t.Parallel()
	settle := 2 * time.Minute
	for _, c := range []struct {
		quiet   time.Duration
		inOrder bool
		want    bool
	}{
		{time.Second, true, false},
		{BurstQuiet, true, true},
		{BurstQuiet, false, false},
		{settle, false, true},
	} {
		if got := MayClose(c.quiet, settle, c.inOrder); got != c.want {
			t.Errorf("MayClose(%v, %v, %v) = %v, want %v", c.quiet, settle, c.inOrder, got, c.want)
		}
	}
	// A settle shorter than BurstQuiet trusts an ordered arrival at settle.
	if !MayClose(time.Second, time.Second, true) {
		t.Error("MayClose with settle 1s after 1s of quiet = false, want true")
	}
}
