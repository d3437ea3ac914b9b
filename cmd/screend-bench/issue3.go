package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"
)

// issue3Cmd is the intake benchmark of issue 3: on a folder of realistic
// PNGs, images/s from drop to stored embedding with the built-in embedder
// and with an ONNX model, beside the limits measured in the same run, and
// the peak RSS of a burst with the model.
func issue3Cmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("issue3", flag.ContinueOnError)
	corpusDir := fs.String("corpus", "", "corpus of 1024x1024 (and 2x) PNGs: screend-bench corpus --sizes 1024x1024")
	model := fs.String("model", "", "ONNX model (ViT-B/32-shaped) with preprocessor_config.json beside it")
	burst := fs.Int("burst-copies", 0, "also drop the corpus this many times at once with the model, for peak RSS (0: skip)")
	skipBuiltin := fs.Bool("skip-builtin", false, "skip the built-in embedder run")
	screend := fs.String("screend", "", "prebuilt screend binary")
	work := fs.String("work", "", "parent folder of the work folders")
	limitFiles := fs.Int("limit-files", 300, "measure the limits on at most this many files")
	out := fs.String("out", "", "write the JSON report to FILE and the Markdown beside it")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *corpusDir == "" {
		return usageError{"--corpus is required"}
	}
	rep := newReport(append([]string{"issue3"}, args...))
	base := loadFlags{corpus: *corpusDir, mode: "cp", settle: 20 * time.Second, copies: 1, screend: *screend,
		work: *work, timeout: 90 * time.Minute, limitFiles: *limitFiles}
	var embedders []string
	if !*skipBuiltin {
		embedders = append(embedders, "builtin")
	}
	if *model != "" {
		embedders = append(embedders, *model)
	}
	var modelLim *Limits
	for _, e := range embedders {
		f := base
		f.embedder = e
		cfg, err := benchConfig(e, 0, 0)
		if err != nil {
			return err
		}
		lim, err := measureLimits(ctx, cfg, f.corpus, f.limitFiles)
		if err != nil {
			return err
		}
		rep.Limits = append(rep.Limits, lim)
		if e == "builtin" {
			rep.Targets = append(rep.Targets, Target{Name: "decoding CPU/image, Go's decoders / the daemon's", Goal: ">= 1.5",
				Measured: lim.DecoderSpeedup, Met: lim.DecoderSpeedup >= 1.5})
		} else {
			modelLim = lim
		}
		res, err := runLoad(ctx, rep, f, lim)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%s: %v", e, err))
			continue
		}
		rep.Loads = append(rep.Loads, res)
		if e == "builtin" {
			rep.Targets = append(rep.Targets, Target{Name: "builtin end-to-end / decode-only", Goal: ">= 0.85",
				Measured: res.VsDecodeOnly, Met: res.VsDecodeOnly >= 0.85},
				Target{Name: "builtin, from the first byte copied to the last embedding / decode-only", Goal: ">= 0.85",
					Measured: res.DropVsDecodeOnly, Met: res.DropVsDecodeOnly >= 0.85},
				Target{Name: "builtin daemon CPU/image / decode-only CPU/image", Goal: "<= 1.1",
					Measured: res.CPUVsDecode, Met: res.CPUVsDecode > 0 && res.CPUVsDecode <= 1.1})
		} else {
			rep.Targets = append(rep.Targets, Target{Name: "ONNX end-to-end / (decode+preprocess, inference) limit", Goal: ">= 0.80",
				Measured: res.VsCombined, Met: res.VsCombined >= 0.80})
		}
	}
	if *burst > 0 && *model != "" {
		f := base
		f.embedder, f.copies = *model, *burst
		res, err := runLoad(ctx, rep, f, modelLim)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("burst: %v", err))
		}
		if res != nil {
			res.Mode = fmt.Sprintf("cp burst x%d", *burst)
			rep.Loads = append(rep.Loads, res)
			rep.Targets = append(rep.Targets, Target{Name: fmt.Sprintf("peak RSS MB, %d-file burst, ONNX", res.Images), Goal: "< 1024",
				Measured: res.PeakRSSMB, Met: res.PeakRSSMB < 1024},
				Target{Name: "burst end-to-end / (decode+preprocess, inference) limit", Goal: ">= 0.80",
					Measured: res.VsCombined, Met: res.VsCombined >= 0.80})
		}
	}
	return rep.finish(*out, stdout)
}
