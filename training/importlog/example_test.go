package importlog_test

import (
	"fmt"
	"strings"

	"screend/training/importlog"
)

func Example() {
	log := `session_id,set_id,project,chosen_stage,max_rejected_stage,chosen_path,rejected_paths,timestamp
s1,group_1,mojo1,1,2,PROJECT_ROOT/mojo1/20250708_064118_stage1_generated.png,['PROJECT_ROOT/mojo1/20250708_064232_stage2_upscaled.png'],2025-10-05T03:25:40Z
s1,group_2,mojo1,1,2,PROJECT_ROOT/mojo2/20250708_070000_stage1_generated.png,['PROJECT_ROOT/mojo2/20250708_070100_stage2_upscaled.png'],2025-10-05T03:26:00Z
`
	res, err := importlog.Parse(strings.NewReader(log), "anomaly_cases.csv")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range res.Decisions {
		fmt.Println(d.Line, d.Project, d.Chosen, "over", d.Negatives())
	}
	for _, r := range res.Rejects {
		fmt.Println(r.Line, r.Part, r.Reason)
	}
	fmt.Println(res.Summary())
	// Output:
	// 2 mojo1 20250708_064118_stage1_generated.png over [20250708_064232_stage2_upscaled.png]
	// 3 row project_mismatch
	// rows=2 accepted=1 rejected=1 row:project_mismatch=1
}

func ExampleOptions() {
	// select_crop_log.csv names the crop tool's folder, not the project; the
	// caller says which project that folder belonged to.
	log := "session_id,set_id,directory,image_count,chosen_index,chosen_path,crop_x1,crop_y1,crop_x2,crop_y2,timestamp,image_0_path,image_0_stage,width_0,height_0\n" +
		"s,g,crop,1,0,crop/a_stage2_upscaled.png,0,0,1024,1024,2025-10-08T18:47:32Z,crop/a_stage2_upscaled.png,stage2_upscaled,2048,2048\n"
	res, _ := importlog.Parse(strings.NewReader(log), "select_crop_log.csv")
	fmt.Println(res.Summary())
	res, _ = importlog.Options{Projects: map[string]string{"crop": "mojo3"}}.Parse(strings.NewReader(log), "select_crop_log.csv")
	d := res.Decisions[0]
	fmt.Println(d.Project, d.CropStatus, *d.Crop)
	// Output:
	// rows=1 accepted=0 rejected=1 row:unknown_project=1
	// mojo3 box [0 0 0.5 0.5]
}
