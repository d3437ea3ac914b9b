package group_test

import (
	"fmt"

	"screend/scoring/group"
)

func ExampleForm() {
	paths := []string{
		"20250708_060558_stage1_generated.png",
		"20250708_060612_stage1.5_face_swapped.png",
		"sub/20250708_060730_stage2_upscaled.png",
		"20250708_060801_stage1_generated.png",
		"20250708_060815_stage1.5_face_swapped.png",
		"notes.png",
	}
	groups, singles := group.Form(paths)
	for _, g := range groups {
		fmt.Println(g.Ended, g.Paths)
	}
	fmt.Println("singles:", singles)
	// Output:
	// true [20250708_060558_stage1_generated.png 20250708_060612_stage1.5_face_swapped.png sub/20250708_060730_stage2_upscaled.png]
	// false [20250708_060801_stage1_generated.png 20250708_060815_stage1.5_face_swapped.png]
	// singles: [notes.png]
}

func ExampleParse() {
	n := group.Parse("mojo3/20250708_060558_Stage1.5_Face_Swapped.png")
	fmt.Println(n.Timestamp, n.Stage, n.SortTimestamp())
	fmt.Println(group.Parse("foo.png").SortTimestamp())
	// Output:
	// 20250708_060558 1.5 20250708_060558
	// 99999999_999999
}
