package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ood-agent/ood-agent/agent/event"
	"github.com/ood-agent/ood-agent/agent/feedback"
	"github.com/ood-agent/ood-agent/hub/dispatch"
	"github.com/ood-agent/ood-agent/hub/store"
)

// FeedbackRequest is the body of POST /api/v1/alerts/{id}/feedback: an
// operator's verdict on the alert, sent to the device that raised it.
type FeedbackRequest struct {
	Label string `json:"label"`
	// Class is a false alarm's true class: a label name or a class index.
	Class string `json:"class,omitempty"`
}

// sendFeedback labels one alert on its device and says how it went as an
// HTTP status.
func (s *Server) sendFeedback(r *http.Request, alertID string, req FeedbackRequest) (store.Command, int, error) {
	if s.dispatch == nil {
		return store.Command{}, http.StatusServiceUnavailable, errors.New(controlOff)
	}
	a, err := s.store.Alert(r.Context(), alertID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Command{}, http.StatusNotFound, fmt.Errorf("alert %s: not found", alertID)
	case err != nil:
		s.metrics.dbErrors.Inc()
		s.log.Error("store query failed", "path", r.URL.Path, "err", err)
		return store.Command{}, http.StatusInternalServerError, errors.New("database error")
	case !labelable(a.Type):
		return store.Command{}, http.StatusBadRequest, fmt.Errorf("alert %s is an %s message: devices keep the frames of alert and event_start messages, label those", a.ID, a.Type)
	}
	c, err := s.dispatch.SendFeedback(r.Context(), dispatch.Feedback{Operator: operatorOf(r), Device: a.DeviceID, AlertID: a.ID,
		Label: feedback.Kind(req.Label), Class: strings.TrimSpace(req.Class)})
	switch {
	case err == nil:
		return c, http.StatusAccepted, nil
	case errors.Is(err, dispatch.ErrBadFeedback):
		return c, http.StatusBadRequest, err
	case errors.Is(err, dispatch.ErrNotPublished):
		s.log.Error("feedback not published", "id", c.ID, "err", err)
		return c, http.StatusBadGateway, err
	}
	s.metrics.dbErrors.Inc()
	s.log.Error("feedback not sent", "err", err)
	return c, http.StatusInternalServerError, errors.New("feedback not sent: database error")
}

func (s *Server) apiSendFeedback(w http.ResponseWriter, r *http.Request) {
	var req FeedbackRequest
	if !decodeBody(w, r, &req, `{"label": "false_alarm"|"confirmed", "class": …}`) {
		return
	}
	c, status, err := s.sendFeedback(r, r.PathValue("id"), req)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, status, commandJSON(store.CommandWithResults{Command: c}))
}

// apiAlertFeedback answers the newest label of the alert sent from the
// hub, with the device's answer; null when there is none.
func (s *Server) apiAlertFeedback(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.store.Alert(r.Context(), id); err != nil {
		s.storeError(w, r, err)
		return
	}
	fb, err := s.store.AlertFeedback(r.Context(), []string{id})
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	var out *CommandJSON
	if c, ok := fb[id]; ok {
		j := commandJSON(c)
		out = &j
	}
	writeJSON(w, http.StatusOK, map[string]any{"feedback": out})
}

// formFeedback is a verdict button of the alerts page: a form POST,
// answered with a redirect back to the page it came from.
func (s *Server) formFeedback(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := FeedbackRequest{Label: r.PostForm.Get("label"), Class: r.PostForm.Get("class")}
	if req.Label == string(feedback.Confirmed) {
		req.Class = "" // the class box is for false alarms
	}
	if _, status, err := s.sendFeedback(r, r.PathValue("id"), req); err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	http.Redirect(w, r, localPath(r.PostForm.Get("back"), "/alerts"), http.StatusSeeOther)
}

// localPath returns p when it is a path on this hub ("/…", not "//…"),
// else def: a form's return address must not send the browser elsewhere.
func localPath(p, def string) string {
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
		return def
	}
	return u.RequestURI() + fragment(u)
}

func fragment(u *url.URL) string {
	if u.Fragment == "" {
		return ""
	}
	return "#" + u.EscapedFragment()
}

// labelable reports whether devices keep the frame of a message of type
// typ for labeling (agent/runner records alerts and event starts).
func labelable(typ string) bool {
	return typ == string(event.TypeAlert) || typ == string(event.TypeEventStart)
}

// alertRow is an alert as the pages list it, with its verdict: the newest
// label sent from the hub, or the buttons that send one.
type alertRow struct {
	store.Alert
	Verdict *feedbackView // nil when the hub has sent no label
	// CanLabel shows the buttons: control on, and a message whose frame
	// the device keeps.
	CanLabel bool
	// Back is where the buttons return to (a path on the hub).
	Back string
}

// alertRows pairs the alerts with their labels.
func (s *Server) alertRows(ctx context.Context, alerts []store.Alert, back string) ([]alertRow, error) {
	ids := make([]string, len(alerts))
	for i, a := range alerts {
		ids[i] = a.ID
	}
	labels, err := s.store.AlertFeedback(ctx, ids)
	if err != nil {
		return nil, err
	}
	rows := make([]alertRow, len(alerts))
	for i, a := range alerts {
		rows[i] = alertRow{Alert: a, CanLabel: s.dispatch != nil && labelable(a.Type), Back: back}
		if c, ok := labels[a.ID]; ok {
			v := viewFeedback(c)
			rows[i].Verdict = &v
		}
	}
	return rows, nil
}

// feedbackView is what the pages show of an alert's label.
type feedbackView struct {
	Label   string
	Class   string
	State   string // "sent", "applied" or "refused"
	Message string
}

func viewFeedback(c store.CommandWithResults) feedbackView {
	var args struct {
		Label string `json:"label"`
		Class string `json:"class"`
	}
	json.Unmarshal(c.Args, &args)
	v := feedbackView{Label: strings.ReplaceAll(args.Label, "_", " "), Class: args.Class, State: "sent"}
	for _, r := range c.Results {
		v.State, v.Message = "applied", r.Message
		if !r.OK {
			v.State = "refused"
		}
	}
	return v
}
