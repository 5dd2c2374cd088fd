package web

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/ood-agent/ood-agent/agent/event"
)

// adaptationsShown is how many of a device's adaptation messages its page
// and the API list, newest first.
const adaptationsShown = 50

// adaptations returns the newest adaptation messages of device, decoded.
// The ingest validated them against their schema before storing them.
func (s *Server) adaptations(ctx context.Context, device string) ([]event.Adaptation, error) {
	stored, err := s.store.Adaptations(ctx, device, adaptationsShown)
	if err != nil {
		return nil, err
	}
	out := make([]event.Adaptation, 0, len(stored))
	for _, a := range stored {
		var ad event.Adaptation
		if err := json.Unmarshal(a.Payload, &ad); err != nil {
			s.log.Warn("stored adaptation message does not decode", "id", a.ID, "err", err)
			continue
		}
		out = append(out, ad)
	}
	return out, nil
}

// AdaptationsJSON is the body of GET /api/v1/devices/{id}/adaptations:
// the messages as the device published them, newest first.
type AdaptationsJSON struct {
	Adaptations []json.RawMessage `json:"adaptations"`
}

func (s *Server) apiAdaptations(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, _, err := s.device(r.Context(), id); err != nil {
		s.storeError(w, r, err)
		return
	}
	stored, err := s.store.Adaptations(r.Context(), id, adaptationsShown)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out := AdaptationsJSON{Adaptations: []json.RawMessage{}}
	for _, a := range stored {
		out.Adaptations = append(out.Adaptations, a.Payload)
	}
	writeJSON(w, http.StatusOK, out)
}
