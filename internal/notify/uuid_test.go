package notify

import "testing"

// IsUUID lets Get and Claim answer ErrNotFound for a malformed id instead of
// sending it to Postgres (invalid input syntax for type uuid → a 500). That
// wiring needs a database and is covered by tests/integration; this test
// pins the check itself. Guards: each `return false` of IsUUID.
func TestIsUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01":  true,
		"0B9F5F4E-5F3E-4A43-9D6C-3F8F0C3E9A01":  true,
		"0b9f5f4e5f3e4a439d6c3f8f0c3e9a01":      false, // Postgres would accept it, the API never prints it
		"0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a0":   false,
		"0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a01x": false,
		"0b9f5f4e-5f3e-4a43-9d6c_3f8f0c3e9a01":  false,
		"0b9f5f4e-5f3e-4a43-9d6c-3f8f0c3e9a0g":  false,
		"send":                                  false,
		"":                                      false,
	} {
		if got := IsUUID(s); got != want {
			t.Errorf("IsUUID(%q) = %v, want %v", s, got, want)
		}
	}
}
