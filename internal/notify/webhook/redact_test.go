package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestErrorsCarryNoSecretOfTheURL (audit I6): a failed delivery's error
// (stored as the notification's errorMessage and logged) names the host
// only, not the path, query or user info where receivers keep secrets.
// Negative control: formatting r.URL into the errors again fails both cases.
func TestErrorsCarryNoSecretOfTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer srv.Close()
	s := &Sender{Client: srv.Client(), Secret: []byte("k")}
	secretURL := strings.Replace(srv.URL, "http://", "http://user:pw-SECRET@", 1) + "/hooks/SECRET-PATH?token=SECRET-Q"
	_, err := s.Send(context.Background(), Request{NotificationID: "n1", URL: secretURL, Body: []byte("{}")})
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("answered 502: %v", err)
	}
	dead := "http://127.0.0.1:1/hooks/SECRET-PATH?token=SECRET-Q"
	_, err = s.Send(context.Background(), Request{NotificationID: "n2", URL: dead, Body: []byte("{}")})
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("transport failure: %v", err)
	}
}
