package training

import (
	"context"
	"log/slog"
	"testing"

	"screend"

	"screend/scoring/model"
	"screend/scoring/onnxrt/onnxrttest"
)

// TestCropUnknown checks that examples whose crop is unknown teach the
// ranker and the reject model but not the crop model, and are judged on
// choice and keep/reject only.
func TestCropUnknown(t *testing.T) {
	onnxrttest.Init(t)
	examples := synthetic(5, 600, 16)
	for i := range examples {
		// a quarter of the kept groups
		if ex := &examples[i]; ex.Chosen >= 0 && i%4 == 0 {
			ex.Crop, ex.CropUnknown = nil, true
		}
	}
	var ex Example
	for _, e := range examples {
		if e.CropUnknown && len(e.Images) >= 2 {
			ex = e
			break
		}
	}
	if ex.Cropped() || ex.CropLabelled() {
		t.Error("a crop-unknown example counts as cropped or crop-labelled")
	}
	if n := len(rankerTask(5).rows(&ex)); n != len(ex.Images) {
		t.Errorf("ranker sees %d rows of a crop-unknown group, want %d", n, len(ex.Images))
	}
	if n := len(rejectTask().rows(&ex)); n != len(ex.Images) {
		t.Errorf("reject model sees %d rows of a crop-unknown group, want %d", n, len(ex.Images))
	}
	if n := len(cropTask(5).rows(&ex)); n != 0 {
		t.Errorf("crop model sees %d rows of a crop-unknown group, want none", n)
	}
	bad := ex
	bad.Crop = &screend.Box{0, 0, 0.5, 0.5}
	if err := bad.validate(16); err == nil {
		t.Error("an example with a box and crop_unknown validates")
	}

	// judged on choice and keep/reject only
	for _, c := range []struct {
		o    model.Outcome
		want bool
	}{
		{model.Outcome{Kind: screend.OutcomeSelect, Chosen: ex.Chosen}, true},
		{model.Outcome{Kind: screend.OutcomeCrop, Chosen: ex.Chosen, Box: [4]float64{0.9, 0.9, 1, 1}}, true},
		{model.Outcome{Kind: screend.OutcomeSelect, Chosen: (ex.Chosen + 1) % len(ex.Images)}, false},
		{model.Outcome{Kind: screend.OutcomeReject, Chosen: ex.Chosen}, false},
	} {
		if got := outcomeRight(c.o, &ex, 0.5); got != c.want {
			t.Errorf("outcomeRight(%s of image %d) = %v, want %v", c.o.Kind, c.o.Chosen, got, c.want)
		}
	}

	res, err := Train(context.Background(), examples, Config{EmbedderID: "test", TargetErrorRate: 0.05, MaxEpochs: 15, Folds: 3}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	o := res.Report.Overall
	var kept, labelled int
	for _, i := range SplitExamples(examples, res.Report.Config.HeldOut).Test {
		if e := examples[i]; e.Chosen >= 0 {
			kept++
			if !e.CropUnknown {
				labelled++
			}
		}
	}
	if o.Kept != kept || o.CropLabelled != labelled || labelled == kept {
		t.Errorf("test set: %d kept, %d crop-labelled; want %d and %d", o.Kept, o.CropLabelled, kept, labelled)
	}
	if o.SelectionAccuracy < 0.8 || o.RejectAccuracy < 0.8 {
		t.Errorf("selection accuracy %.3f, reject accuracy %.3f with a quarter of the crops unknown", o.SelectionAccuracy, o.RejectAccuracy)
	}
}
