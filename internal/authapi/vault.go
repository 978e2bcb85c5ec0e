package authapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/mana/mana/internal/auth"
	"github.com/mana/mana/internal/httpx"
	"github.com/mana/mana/internal/vault"
)

// maxRecoveryField bounds recoveryWrappedMk and recoveryIv. A wrapped 32-byte
// key in base64 is about 64 characters; 4 KiB leaves room for any client
// format while keeping junk out of the table.
const maxRecoveryField = 4096

const vaultPrefix = "/api/v1/me/encryption-vault"

// vaultRoutes registers the encryption-vault endpoints (seed contract §2.5).
func (a *API) vaultRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+vaultPrefix+"/status", a.requireBearer(a.vaultStatus))
	// Releasing the master key needs a recent sign-in when configured.
	mux.Handle("POST "+vaultPrefix+"/init", a.requireBearer(a.recent(a.vaultInit)))
	mux.Handle("GET "+vaultPrefix+"/key", a.requireBearer(a.recent(a.vaultKey)))
	mux.Handle("POST "+vaultPrefix+"/rotate", a.requireBearer(a.recent(a.vaultRotate)))
	mux.Handle("POST "+vaultPrefix+"/recovery-wrap", a.requireBearer(a.vaultSetRecovery))
	mux.Handle("DELETE "+vaultPrefix+"/recovery-wrap", a.requireBearer(a.vaultClearRecovery))
	mux.Handle("POST "+vaultPrefix+"/zero-knowledge", a.requireBearer(a.vaultZeroKnowledge))
}

// vaultBadRequest is envelope C of the contract (error = human text) plus our code/message/status.
func vaultBadRequest(w http.ResponseWriter, r *http.Request, code, text string) {
	apiError{status: http.StatusBadRequest, code: code, legacy: text, message: text}.write(w, r)
}

// vaultFail maps a vault error to its response.
func (a *API) vaultFail(w http.ResponseWriter, r *http.Request, err error) {
	var e apiError
	switch {
	case errors.Is(err, vault.ErrNotInitialised):
		e = apiError{status: http.StatusNotFound, code: "VAULT_NOT_INITIALISED"}
	case errors.Is(err, vault.ErrZKRotateForbidden):
		e = apiError{status: http.StatusConflict, code: "ZK_ROTATE_FORBIDDEN"}
	case errors.Is(err, vault.ErrZKActive):
		e = apiError{status: http.StatusConflict, code: "ZK_ACTIVE"}
	case errors.Is(err, vault.ErrRecoveryWrapMissing):
		e = apiError{status: http.StatusBadRequest, code: "RECOVERY_WRAP_MISSING"}
	default:
		// Unwrap failures and database errors: logged with the cause, 500.
		a.fail(w, r, r.URL.Path, err)
		return
	}
	e.legacy, e.message = err.Error(), err.Error()
	e.write(w, r)
}

func (a *API) vaultClient(r *http.Request) vault.Client {
	c := a.client(r)
	return vault.Client{IP: c.IP, UserAgent: c.UserAgent}
}

func keyJSON(k vault.KeyResult) map[string]any {
	if k.RequiresRecoveryCode {
		return map[string]any{"requiresRecoveryCode": true, "recoveryWrappedMk": k.RecoveryWrappedMK,
			"recoveryIv": k.RecoveryIV, "formatVersion": k.FormatVersion}
	}
	return map[string]any{"masterKey": base64.StdEncoding.EncodeToString(k.MasterKey), "formatVersion": k.FormatVersion, "kekId": k.KEKID}
}

func (a *API) vaultStatus(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	st, err := a.vault.Status(r.Context(), p.Claims.Sub)
	if err != nil {
		a.vaultFail(w, r, err)
		return
	}
	var setAt any
	if st.RecoverySetAt != nil {
		setAt = st.RecoverySetAt.UTC().Format(time.RFC3339Nano)
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"vaultExists": st.VaultExists, "hasRecoveryWrap": st.HasRecoveryWrap,
		"zeroKnowledge": st.ZeroKnowledge, "recoverySetAt": setAt})
}

func (a *API) vaultInit(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	// The body is ignored (contract §2.5).
	k, err := a.vault.Init(r.Context(), p.Claims.Sub, a.vaultClient(r))
	a.answerKey(w, r, k, err)
}

func (a *API) vaultKey(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	k, err := a.vault.Key(r.Context(), p.Claims.Sub, a.vaultClient(r))
	a.answerKey(w, r, k, err)
}

func (a *API) vaultRotate(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	k, err := a.vault.Rotate(r.Context(), p.Claims.Sub, a.vaultClient(r))
	a.answerKey(w, r, k, err)
}

func (a *API) answerKey(w http.ResponseWriter, r *http.Request, k vault.KeyResult, err error) {
	if err != nil {
		a.vaultFail(w, r, err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, keyJSON(k))
}

const recoveryRequired = "recoveryWrappedMk and recoveryIv are required (base64 strings)"

func (a *API) vaultSetRecovery(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var in struct {
		WrappedMK json.RawMessage `json:"recoveryWrappedMk"`
		IV        json.RawMessage `json:"recoveryIv"`
	}
	if err := httpx.DecodeJSON(w, r, maxBody, &in, false); err != nil {
		if errors.Is(err, httpx.ErrBodyTooLarge) {
			badBody(w, r, err)
			return
		}
		vaultBadRequest(w, r, "BAD_REQUEST", recoveryRequired)
		return
	}
	wrapped, ok1 := nonEmptyString(in.WrappedMK)
	iv, ok2 := nonEmptyString(in.IV)
	if !ok1 || !ok2 {
		vaultBadRequest(w, r, "BAD_REQUEST", recoveryRequired)
		return
	}
	if len(wrapped) > maxRecoveryField || len(iv) > maxRecoveryField {
		vaultBadRequest(w, r, "BAD_REQUEST", "recoveryWrappedMk and recoveryIv must be at most 4096 characters")
		return
	}
	if err := a.vault.SetRecoveryWrap(r.Context(), p.Claims.Sub, a.vaultClient(r), wrapped, iv); err != nil {
		a.vaultFail(w, r, err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"ok": true})
}

// nonEmptyString accepts a JSON string with at least one character.
func nonEmptyString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || s == "" {
		return "", false
	}
	return s, true
}

func (a *API) vaultClearRecovery(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if err := a.vault.ClearRecoveryWrap(r.Context(), p.Claims.Sub, a.vaultClient(r)); err != nil {
		a.vaultFail(w, r, err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"ok": true})
}

func (a *API) vaultZeroKnowledge(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var in struct {
		Enable    json.RawMessage `json:"enable"`
		MasterKey json.RawMessage `json:"masterKey"`
	}
	var enable bool
	err := httpx.DecodeJSON(w, r, maxBody, &in, false)
	if errors.Is(err, httpx.ErrBodyTooLarge) {
		badBody(w, r, err)
		return
	}
	if err != nil || json.Unmarshal(in.Enable, &enable) != nil {
		vaultBadRequest(w, r, "BAD_REQUEST", "`enable: boolean` is required")
		return
	}
	if enable {
		if err := a.vault.EnableZeroKnowledge(r.Context(), p.Claims.Sub, a.vaultClient(r)); err != nil {
			a.vaultFail(w, r, err)
			return
		}
		httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"ok": true, "zeroKnowledge": true})
		return
	}
	encoded, ok := nonEmptyString(in.MasterKey)
	if !ok {
		vaultBadRequest(w, r, "BAD_REQUEST", "`masterKey: base64` is required when disabling zero-knowledge")
		return
	}
	mk, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(mk) != vault.MasterKeySize {
		vaultBadRequest(w, r, "BAD_REQUEST", "masterKey must decode to 32 bytes")
		return
	}
	if err := a.vault.DisableZeroKnowledge(r.Context(), p.Claims.Sub, a.vaultClient(r), mk); err != nil {
		a.vaultFail(w, r, err)
		return
	}
	httpx.WriteJSON(w, r, http.StatusOK, map[string]any{"ok": true, "zeroKnowledge": false})
}
