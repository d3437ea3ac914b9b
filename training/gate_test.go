package training

import "testing"

func TestGate(t *testing.T) {
	t.Parallel()
	ev := func(right, auto, errs int) BundleEval {
		return BundleEval{Groups: 100, Right: right, AutoDecided: auto, AutoErrors: errs,
			OutcomeAccuracy: ratio(right, 100), Coverage: ratio(auto, 100), AutoErrorRate: ratio(errs, auto)}
	}
	tests := []struct {
		name         string
		cand, active BundleEval
		pass         bool
	}{
		{"tie passes", ev(80, 60, 1), ev(80, 60, 1), true},
		{"better everywhere", ev(85, 70, 1), ev(80, 60, 1), true},
		{"less accurate", ev(79, 70, 0), ev(80, 60, 1), false},
		{"less coverage", ev(85, 59, 0), ev(80, 60, 1), false},
		{"extra coverage with extra mistakes", ev(85, 70, 2), ev(80, 60, 1), false},
		{"extra coverage within the target rate", ev(85, 110-10, 2), ev(80, 50, 1), true},
		{"other group count", BundleEval{Groups: 99, Right: 99}, ev(80, 60, 1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pass, reason := Gate(tc.cand, tc.active, 0.02)
			if pass != tc.pass {
				t.Errorf("Gate = %v (%s), want %v", pass, reason, tc.pass)
			}
		})
	}
}
