package notifyapi

import "testing"

// Guard: rawJSONHasNUL finds the escape only where it decodes to a NUL, not
// in an escaped backslash followed by "u0000".
func TestRawJSONHasNUL(t *testing.T) {
	for raw, want := range map[string]bool{
		`{"a":"\u0000"}`:        true,
		`{"\u0000":1}`:          true,
		`[[{"x":["y\u0000"]}]]`: true,
		`{"a":"\\u0000"}`:       false,
		`{"a":"b"}`:             false,
		``:                      false,
		`null`:                  false,
	} {
		if got := rawJSONHasNUL([]byte(raw)); got != want {
			t.Errorf("rawJSONHasNUL(%s) = %v, want %v", raw, got, want)
		}
	}
}
