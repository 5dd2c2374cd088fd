package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ood-agent/ood-agent/hub/dispatch"
	"github.com/ood-agent/ood-agent/hub/store"
)

// maxUpload bounds a release upload (model and calibration).
const maxUpload = 512 << 20

// ModelReleaseJSON is an uploaded release in the API.
type ModelReleaseJSON struct {
	Version     string          `json:"version"`
	Name        string          `json:"name,omitempty"`
	Model       ArtifactJSON    `json:"model"`
	Calibration ArtifactJSON    `json:"calibration"`
	Manifest    json.RawMessage `json:"manifest"`
	Operator    string          `json:"operator"`
	Created     time.Time       `json:"created"`
}

// ArtifactJSON is a release file.
type ArtifactJSON struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Path is where the hub serves it, without the token guard: agents
	// download it unauthenticated and check it against the signed hash.
	Path string `json:"path"`
}

func releaseJSON(m store.Model) ModelReleaseJSON {
	p := "/models/" + url.PathEscape(m.Version) + "/"
	return ModelReleaseJSON{Version: m.Version, Name: m.Name,
		Model:       ArtifactJSON{m.ModelSHA256, m.ModelSize, p + dispatch.ModelFile},
		Calibration: ArtifactJSON{m.CalibrationSHA256, m.CalibrationSize, p + dispatch.CalibrationFile},
		Manifest:    m.Manifest, Operator: m.Operator, Created: m.Created}
}

// RolloutJSON is a rollout and each device's progress.
type RolloutJSON struct {
	ID      string              `json:"id"`
	Model   string              `json:"model"`
	Target  string              `json:"target"`
	Percent float64             `json:"percent,omitempty"`
	Created time.Time           `json:"created"`
	Devices []RolloutDeviceJSON `json:"devices"`
}

// RolloutDeviceJSON is one device's progress: its latest result, or
// "sent" while it has not answered.
type RolloutDeviceJSON struct {
	Device  string `json:"device"`
	Stage   string `json:"stage"`
	OK      bool   `json:"ok"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Running says the device's last status names the release's model
	// (its SHA-256): the end of the rollout as the device reports it.
	Running bool `json:"running"`
}

// readFile reads one uploaded file of a multipart form.
func readFile(r *http.Request, field string) ([]byte, error) {
	f, _, err := r.FormFile(field)
	if err != nil {
		return nil, fmt.Errorf("form field %q: %w", field, err)
	}
	defer f.Close()
	return io.ReadAll(f)
}

// upload reads and releases the model of a multipart request, saying
// how it went as an HTTP status.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) (store.Model, int, error) {
	if s.dispatch == nil {
		return store.Model{}, http.StatusServiceUnavailable, errors.New(controlOff)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		return store.Model{}, http.StatusBadRequest, fmt.Errorf("want a multipart form with version, model (.tflite) and calibration (JSON): %w", err)
	}
	defer r.MultipartForm.RemoveAll()
	model, err := readFile(r, "model")
	if err != nil {
		return store.Model{}, http.StatusBadRequest, err
	}
	cal, err := readFile(r, "calibration")
	if err != nil {
		return store.Model{}, http.StatusBadRequest, err
	}
	m, err := s.dispatch.Release(r.Context(), operatorOf(r), r.FormValue("version"), model, cal)
	switch {
	case err == nil:
		return m, http.StatusCreated, nil
	case errors.Is(err, dispatch.ErrBadRelease):
		return m, http.StatusUnprocessableEntity, err
	case errors.Is(err, store.ErrExists):
		return m, http.StatusConflict, err
	}
	s.log.Error("release failed", "err", err)
	return m, http.StatusInternalServerError, errors.New("release failed: storage error")
}

func (s *Server) apiUploadModel(w http.ResponseWriter, r *http.Request) {
	m, status, err := s.upload(w, r)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	writeJSON(w, status, releaseJSON(m))
}

func (s *Server) apiModels(w http.ResponseWriter, r *http.Request) {
	ms, err := s.store.Models(r.Context())
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": jsonList(ms, releaseJSON)})
}

// modelFile serves a release file to agents, with Range support for
// resumed downloads. Only released versions and the two file names are
// served, so no request reaches another path of the data directory.
func (s *Server) modelFile(w http.ResponseWriter, r *http.Request) {
	version, file := r.PathValue("version"), r.PathValue("file")
	if s.dispatch == nil || (file != dispatch.ModelFile && file != dispatch.CalibrationFile) {
		http.NotFound(w, r)
		return
	}
	m, err := s.store.Model(r.Context(), version)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	f, err := os.Open(s.dispatch.ModelPath(m.Version, file))
	if err != nil {
		s.log.Error("release file missing", "version", m.Version, "file", file, "err", err)
		http.Error(w, "release file missing", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, file, m.Created, f)
}

// RolloutRequest is the body of POST /api/v1/rollouts.
type RolloutRequest struct {
	Model  string                 `json:"model"`
	Target dispatch.RolloutTarget `json:"target"`
}

func (s *Server) startRollout(r *http.Request, req RolloutRequest) (store.Rollout, int, error) {
	if s.dispatch == nil {
		return store.Rollout{}, http.StatusServiceUnavailable, errors.New(controlOff)
	}
	ro, err := s.dispatch.Rollout(r.Context(), operatorOf(r), req.Model, req.Target)
	switch {
	case err == nil:
		return ro, http.StatusAccepted, nil
	case errors.Is(err, dispatch.ErrBadRelease):
		return ro, http.StatusBadRequest, err
	case errors.Is(err, store.ErrNotFound):
		return ro, http.StatusNotFound, fmt.Errorf("model %q: not uploaded", req.Model)
	case errors.Is(err, dispatch.ErrNotPublished):
		return ro, http.StatusBadGateway, err
	}
	s.log.Error("rollout failed", "err", err)
	return ro, http.StatusInternalServerError, errors.New("rollout failed: database error")
}

func (s *Server) apiStartRollout(w http.ResponseWriter, r *http.Request) {
	var req RolloutRequest
	if !decodeBody(w, r, &req, `{"model": …, "target": {"device"|"group"|"all"|"percent": …}}`) {
		return
	}
	ro, status, err := s.startRollout(r, req)
	if err != nil {
		writeError(w, status, err.Error())
		return
	}
	out, err := s.rolloutJSON(r, ro)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, status, out)
}

// rolloutJSON gathers a rollout's per-device progress from the results
// of its commands.
func (s *Server) rolloutJSON(r *http.Request, ro store.Rollout) (RolloutJSON, error) {
	out := RolloutJSON{ID: ro.ID, Model: ro.ModelVersion, Target: ro.Target, Percent: ro.Percent, Created: ro.Created, Devices: []RolloutDeviceJSON{}}
	cmds, err := s.store.Commands(r.Context(), store.CommandFilter{RolloutID: ro.ID, Limit: 1000})
	if err != nil {
		return out, err
	}
	seen := map[string]bool{}
	for _, c := range cmds {
		for _, res := range c.Results {
			seen[res.DeviceID] = true
			stage := res.Stage
			if stage == "" && !res.OK {
				stage = "refused"
			}
			out.Devices = append(out.Devices, RolloutDeviceJSON{Device: res.DeviceID, Stage: stage, OK: res.OK, Code: res.Code, Message: res.Message})
		}
	}
	for _, id := range ro.Devices {
		if !seen[id] {
			out.Devices = append(out.Devices, RolloutDeviceJSON{Device: id, Stage: "sent", OK: true})
		}
	}
	slices.SortFunc(out.Devices, func(a, b RolloutDeviceJSON) int { return strings.Compare(a.Device, b.Device) })
	m, err := s.store.Model(r.Context(), ro.ModelVersion)
	if err != nil {
		return out, err
	}
	devices, err := s.store.Devices(r.Context())
	if err != nil {
		return out, err
	}
	runs := map[string]bool{}
	for _, d := range devices {
		runs[d.ID] = d.ModelSHA == m.ModelSHA256
	}
	for i := range out.Devices {
		out.Devices[i].Running = runs[out.Devices[i].Device]
	}
	return out, nil
}

func (s *Server) apiRollout(w http.ResponseWriter, r *http.Request) {
	ro, err := s.store.Rollout(r.Context(), r.PathValue("id"))
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	out, err := s.rolloutJSON(r, ro)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) rollouts(r *http.Request) ([]RolloutJSON, error) {
	ros, err := s.store.Rollouts(r.Context(), 50)
	if err != nil {
		return nil, err
	}
	out := make([]RolloutJSON, 0, len(ros))
	for _, ro := range ros {
		j, err := s.rolloutJSON(r, ro)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

func (s *Server) apiRollouts(w http.ResponseWriter, r *http.Request) {
	out, err := s.rollouts(r)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rollouts": out})
}

func (s *Server) pageRollouts(w http.ResponseWriter, r *http.Request) {
	ros, err := s.rollouts(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	models, err := s.store.Models(r.Context())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, s.pages.rollouts, map[string]any{"Title": "Rollouts", "Nav": "rollouts", "Rollouts": ros, "Models": models, "Control": s.controlInfo()})
}

// formUpload is the rollout page's upload form.
func (s *Server) formUpload(w http.ResponseWriter, r *http.Request) {
	if _, status, err := s.upload(w, r); err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	http.Redirect(w, r, "/rollouts", http.StatusSeeOther)
}

// formRollout is the rollout page's start form: target is device,
// group, all or percent, with its value in "value".
func (s *Server) formRollout(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := RolloutRequest{Model: r.PostForm.Get("model")}
	value := r.PostForm.Get("value")
	switch r.PostForm.Get("target") {
	case "device":
		req.Target.Device = value
	case "group":
		req.Target.Group = value
	case "all":
		req.Target.All = true
	case "percent":
		p, err := strconv.ParseFloat(value, 64)
		if err != nil {
			http.Error(w, fmt.Sprintf("percent %q: want a number", value), http.StatusBadRequest)
			return
		}
		req.Target.Percent = p
	default:
		http.Error(w, "target: want device, group, all or percent", http.StatusBadRequest)
		return
	}
	if _, status, err := s.startRollout(r, req); err != nil {
		http.Error(w, err.Error(), status)
		return
	}
	http.Redirect(w, r, "/rollouts", http.StatusSeeOther)
}
