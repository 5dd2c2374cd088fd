package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ood-agent/ood-agent/agent/control"
	"github.com/ood-agent/ood-agent/hub/dispatch"
	"github.com/ood-agent/ood-agent/hub/store"
)

// controlOff is the answer while the hub has no signing key.
const controlOff = "fleet control is off: set hub.control.key_file to the hub's signing key (ood-agent keygen), see docs/hub.md"

// CommandRequest is the body of the POST …/commands endpoints.
type CommandRequest struct {
	Type string          `json:"type"`
	Args json.RawMessage `json:"args,omitempty"`
	TTLS int64           `json:"ttl_s,omitempty"`
}

// CommandJSON is an audit-log entry in the API.
type CommandJSON struct {
	ID        string          `json:"id"`
	Operator  string          `json:"operator"`
	Type      string          `json:"type"`
	Target    string          `json:"target"`
	Args      json.RawMessage `json:"args"`
	IssuedAt  time.Time       `json:"issued_at"`
	TTLS      int64           `json:"ttl_s"`
	RolloutID string          `json:"rollout_id,omitempty"`
	Results   []ResultJSON    `json:"results"`
}

// ResultJSON is a device's answer to a command.
type ResultJSON struct {
	Device     string    `json:"device"`
	OK         bool      `json:"ok"`
	Code       string    `json:"code,omitempty"`
	Stage      string    `json:"stage,omitempty"`
	Message    string    `json:"message,omitempty"`
	Time       time.Time `json:"time"`
	Received   time.Time `json:"received"`
	Duplicates int64     `json:"duplicates"`
	// Settings are the effective settings the device reported (the
	// configuration, for report_config).
	Settings json.RawMessage `json:"settings,omitempty"`
}

// settingsOf takes the settings out of a stored result payload.
func settingsOf(payload []byte) json.RawMessage {
	var r struct {
		Settings json.RawMessage `json:"settings"`
	}
	if json.Unmarshal(payload, &r) != nil {
		return nil
	}
	return r.Settings
}

func commandJSON(c store.CommandWithResults) CommandJSON {
	out := CommandJSON{ID: c.ID, Operator: c.Operator, Type: c.Type, Target: c.Target, Args: c.Args, IssuedAt: c.Issued,
		TTLS: int64(c.TTL / time.Second), RolloutID: c.RolloutID, Results: []ResultJSON{}}
	for _, r := range c.Results {
		out.Results = append(out.Results, ResultJSON{Device: r.DeviceID, OK: r.OK, Code: r.Code, Stage: r.Stage, Message: r.Message,
			Time: r.Time, Received: r.Received, Duplicates: r.Duplicates, Settings: settingsOf(r.Payload)})
	}
	return out
}

// maxCommandBody bounds a command request; a rollout's manifest is the
// largest argument and stays far below.
const maxCommandBody = 64 << 10

// decodeBody decodes the JSON body of a POST of at most maxCommandBody
// bytes into v, refusing unknown fields; otherwise it answers 400 with
// the shape wanted and reports false.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, want string) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxCommandBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("body: want %s: %v", want, err))
		return false
	}
	return true
}

// targetOf reads the target of a POST …/commands route.
func targetOf(r *http.Request) (control.Target, error) {
	switch {
	case r.PathValue("id") != "":
		return control.ParseTarget("device/" + r.PathValue("id"))
	case r.PathValue("group") != "":
		return control.ParseTarget("group/" + r.PathValue("group"))
	}
	return control.All, nil
}

// send signs, audits and publishes one command, and says how it went as
// an HTTP status and message.
func (s *Server) send(r *http.Request, target control.Target, req CommandRequest) (control.Command, int, error) {
	if s.dispatch == nil {
		return control.Command{}, http.StatusServiceUnavailable, errors.New(controlOff)
	}
	if req.TTLS < 0 {
		return control.Command{}, http.StatusBadRequest, fmt.Errorf("ttl_s must be positive, got %d", req.TTLS)
	}
	typ := control.Type(req.Type)
	if typ == control.TypeRollout {
		return control.Command{}, http.StatusBadRequest, errors.New("rollout commands are made by POST /api/v1/rollouts, which signs the manifest")
	}
	cmd, err := s.dispatch.Send(r.Context(), dispatch.Request{
		Operator: operatorOf(r), Target: target, Type: typ, Args: req.Args, TTL: time.Duration(req.TTLS) * time.Second,
	})
	switch {
	case err == nil:
		return cmd, http.StatusAccepted, nil
	case errors.Is(err, dispatch.ErrNotPublished):
		s.log.Error("command not published", "id", cmd.ID, "err", err)
		return cmd, http.StatusBadGateway, err
	case control.CodeOf(err) != "":
		return cmd, http.StatusBadRequest, err
	}
	s.metrics.dbErrors.Inc()
	s.log.Error("command not sent", "err", err)
	return cmd, http.StatusInternalServerError, errors.New("command not sent: database error")
}

func (s *Server) apiSendCommand(w http.ResponseWriter, r *http.Request) {
	target, err := targetOf(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var req CommandRequest
	if !decodeBody(w, r, &req, `{"type": …, "args": {…}, "ttl_s": …}`) {
		return
	}
	cmd, status, err := s.send(r, target, req)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, status, map[string]any{"id": cmd.ID, "target": cmd.Target.String(), "type": cmd.Type,
		"issued_at": cmd.IssuedAt, "expires_at": cmd.Expires()})
}

func (s *Server) apiCommands(w http.ResponseWriter, r *http.Request) {
	f := store.CommandFilter{Device: r.URL.Query().Get("device"), RolloutID: r.URL.Query().Get("rollout")}
	if l := r.URL.Query().Get("limit"); l != "" {
		var err error
		if f.Limit, err = strconv.Atoi(l); err != nil || f.Limit < 1 || f.Limit > 1000 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want 1–1000", l))
			return
		}
	}
	cmds, err := s.store.Commands(r.Context(), f)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"commands": jsonList(cmds, commandJSON)})
}

// ControlJSON says whether fleet control is on and which key agents
// must trust.
type ControlJSON struct {
	Enabled bool `json:"enabled"`
	// TrustedKey goes into the agents' control.trusted_keys.
	TrustedKey string `json:"trusted_key,omitempty"`
	Message    string `json:"message,omitempty"`
}

func (s *Server) controlInfo() ControlJSON {
	if s.dispatch == nil {
		return ControlJSON{Message: controlOff}
	}
	return ControlJSON{Enabled: true, TrustedKey: s.dispatch.PublicKey()}
}

func (s *Server) apiControl(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.controlInfo())
}

// formCommand is a command button of the device page: a form POST,
// answered with a redirect back to the page (post/redirect/get). The
// session cookie is SameSite=Lax and CrossOriginProtection refuses
// cross-site POSTs, so another site cannot press the buttons.
func (s *Server) formCommand(w http.ResponseWriter, r *http.Request) {
	target, err := targetOf(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := CommandRequest{Type: r.PostForm.Get("type")}
	if v := strings.TrimSpace(r.PostForm.Get("threshold")); v != "" {
		req.Args = json.RawMessage(`{"threshold":` + jsonNumber(v) + `}`)
	}
	if v := strings.TrimSpace(r.PostForm.Get("target_tpr")); v != "" {
		req.Args = json.RawMessage(`{"target_tpr":` + jsonNumber(v) + `}`)
	}
	cmd, status, err := s.send(r, target, req)
	if err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	http.Redirect(w, r, "/devices/"+url.PathEscape(target.Name)+"?sent="+url.QueryEscape(cmd.ID)+"#commands", http.StatusSeeOther)
}

// jsonNumber passes a form value on as a JSON number, or as a string
// (which the argument check then refuses by name) when it is not one.
func jsonNumber(v string) string {
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// operatorOf names the credential of r for the audit log. The hub has
// one token, so this tells API clients from browsers, not people.
func operatorOf(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		return "api-token"
	}
	return "browser-session"
}
