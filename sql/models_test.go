package sql_test

import (
	"encoding/json"
	"errors"
	"testing"

	"screend"
	"screend/sql"
)

// TestModelRegistry registers candidates, promotes them one after the
// other, fails one at the gate, and rolls back step by step until no
// earlier model is left.
func TestModelRegistry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.embedder("e")
	if _, ok, err := f.db.LastModelCreated(f.ctx); err != nil || ok {
		t.Errorf("last model created in an empty registry: ok %v err %v", ok, err)
	}
	if m, err := f.db.ActiveModel(f.ctx); err != nil || m != nil {
		t.Errorf("active model in an empty registry: %v %v", m, err)
	}
	if _, _, err := f.db.RollbackModel(f.ctx); !errors.Is(err, sql.ErrNoModel) {
		t.Errorf("roll back with no active model: %v, want ErrNoModel", err)
	}
	insert := func(examples int) int64 {
		t.Helper()
		id, err := f.db.InsertModel(f.ctx, sql.Model{EmbedderID: e, Ranker: []byte{1}, Crop: []byte{2}, Reject: []byte{3},
			Params: json.RawMessage(`{"temperature": 1}`), Metrics: json.RawMessage(`{"groups": 5}`), Examples: examples})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	active := func() int64 {
		t.Helper()
		id, err := f.db.ActiveModelID(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	first, second, failed := insert(10), insert(20), insert(30)

	if err := f.db.PromoteModel(f.ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := f.db.PromoteModel(f.ctx, second); err != nil {
		t.Fatal(err)
	}
	if err := f.db.PromoteModel(f.ctx, -1); err == nil {
		t.Error("promoted a model that does not exist")
	}
	m, err := f.db.ActiveModel(f.ctx)
	if err != nil || m == nil || m.ID != second || active() != second || m.State != screend.ModelActive ||
		string(m.Ranker) != "\x01" || m.Examples != 20 || m.PromotedAt == nil {
		t.Fatalf("active model %+v (%v), want %d with its bytes and promotion time", m, err, second)
	}

	if err := f.db.FailModelGate(f.ctx, failed, json.RawMessage(`{"passed": false}`)); err != nil {
		t.Fatal(err)
	}
	if err := f.db.FailModelGate(f.ctx, second, json.RawMessage(`{"passed": false}`)); err == nil {
		t.Error("failed the gate of the active model, which is no candidate")
	}
	if err := f.db.SetModelGate(f.ctx, second, json.RawMessage(`{"passed": true}`)); err != nil {
		t.Fatal(err)
	}
	list, err := f.db.ListModels(f.ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("list models: %+v (%v)", list, err)
	}
	wantStates := []screend.ModelState{screend.ModelFailedGate, screend.ModelActive, screend.ModelRetired}
	for i, info := range list {
		if info.State != wantStates[i] || info.Embedder != "e" {
			t.Errorf("model %d: %s of %s, want %s of e (newest first)", info.ID, info.State, info.Embedder, wantStates[i])
		}
	}
	var gate struct {
		Groups int `json:"groups"`
		Gate   struct {
			Passed bool `json:"passed"`
		} `json:"gate"`
	}
	if err := json.Unmarshal(list[1].Metrics, &gate); err != nil || gate.Groups != 5 || !gate.Gate.Passed {
		t.Errorf("metrics of the active model %s (%v), want its own with the gate merged in", list[1].Metrics, err)
	}
	if _, ok, err := f.db.LastModelCreated(f.ctx); err != nil || !ok {
		t.Errorf("last model created: ok %v err %v", ok, err)
	}
	if _, err := f.db.Model(f.ctx, -1); !errors.Is(err, sql.ErrNoModel) {
		t.Errorf("model -1: %v, want ErrNoModel", err)
	}

	retired, restored, err := f.db.RollbackModel(f.ctx)
	if err != nil || retired != second || restored != first || active() != first {
		t.Errorf("roll back: retired %d restored %d (%v), active %d; want %d, %d", retired, restored, err, active(), second, first)
	}
	if _, _, err := f.db.RollbackModel(f.ctx); !errors.Is(err, sql.ErrNoModel) {
		t.Errorf("roll back past the first model: %v, want ErrNoModel", err)
	}
	if active() != first {
		t.Errorf("a refused roll-back changed the active model to %d", active())
	}
}
