package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"io"
	"strings"

	"screend/cmd/screend-bench/internal/corpus"
)

func corpusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("corpus", flag.ContinueOnError)
	var o corpus.Options
	fs.StringVar(&o.Photos, "photos", "", "folder of photographs (searched recursively)")
	fs.StringVar(&o.Out, "out", "", "folder to write the corpus to")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	fs.IntVar(&o.Pictures, "pictures", 300, "number of pictures (groups)")
	fs.IntVar(&o.Projects, "projects", 1, "number of project folders")
	fs.Float64Var(&o.AnomalyRate, "anomaly-rate", 0.07, "share of groups whose human choice is a lower stage")
	sizes := fs.String("sizes", "", "stage-1 sizes, e.g. 1024x1024 (default the pipeline's three, weighted)")
	fs.Float64Var(&o.TestPhotoShare, "test-photos", 0.3, "share of the photographs whose pictures are test pictures, never trained on (negative: none)")
	fs.BoolVar(&o.Overwrite, "overwrite", false, "write into a folder that already holds a corpus")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if o.Photos == "" || o.Out == "" {
		return usageError{"--photos and --out are required"}
	}
	if *sizes != "" {
		for _, s := range strings.Split(*sizes, ",") {
			var p image.Point
			if _, err := fmt.Sscanf(strings.TrimSpace(s), "%dx%d", &p.X, &p.Y); err != nil || p.X < 16 || p.Y < 16 {
				return usageError{fmt.Sprintf("bad size %q", s)}
			}
			o.Sizes = append(o.Sizes, p)
		}
	}
	m, err := corpus.Generate(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "| corpus | %s |\n|---|---|\n", o.Out)
	fmt.Fprintf(stdout, "| seed | %d |\n| pictures | %d |\n| projects | %d |\n| photos | %d (%d test) |\n| images | %d (+%d .yaml) |\n| bytes | %.1f MB |\n",
		m.Seed, m.Pictures, len(m.Projects), len(m.Photos), len(m.TestPhotos), m.Images, m.Companions, float64(m.Bytes)/1e6)
	fmt.Fprintf(stdout, "| shapes | %v |\n| decisions | %v |\n| anomalies | %d |\n| generated in | %s |\n", m.Shapes, m.Decisions, m.Anomalies, m.GeneratedIn)
	return nil
}
