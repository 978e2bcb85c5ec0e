package httpx

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodeJSON: any body either decodes or is refused with one of the two
// body errors — never a panic — and a decoded body holds no NUL.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{`{}`, ``, `{"email":"a@b.c","password":"x"}`, `{"a":"\u0000"}`, `{"a":"\\u0000"}`,
		`[1,2]`, `{"email":`, `null`, `"str"`, `{"nested":{"deep":[{"x":1}]}}`} {
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, allowEmpty bool) {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		var dst map[string]any
		err := DecodeJSON(httptest.NewRecorder(), r, 1<<16, &dst, allowEmpty)
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if hasNUL(dst) {
			t.Fatalf("decoded %q into %v: NUL got through", body, dst)
		}
	})
}

func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case []any:
		for _, x := range v {
			if hasNUL(x) {
				return true
			}
		}
	case map[string]any:
		for k, x := range v {
			if strings.ContainsRune(k, 0) || hasNUL(x) {
				return true
			}
		}
	}
	return false
}
