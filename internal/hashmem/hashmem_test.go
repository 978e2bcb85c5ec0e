package hashmem

import "testing"

// TestKeepsUpToTheCap: memory within the cap is kept and handed out again,
// a larger request gets memory of its own and leaves the kept memory as it
// was. Negative control: keeping every allocation (dropping the cap check)
// fails the last two checks.
func TestKeepsUpToTheCap(t *testing.T) {
	a := New(64 * 8)
	first := a.Words(32)
	if a.KeptBytes() != 32*8 {
		t.Fatalf("kept %d bytes after 32 words, want 256", a.KeptBytes())
	}
	if again := a.Words(16); &again[0] != &first[0] {
		t.Fatal("a smaller request did not reuse the kept memory")
	}
	grown := a.Words(64)
	if a.KeptBytes() != 64*8 {
		t.Fatalf("kept %d bytes after 64 words (the cap), want 512", a.KeptBytes())
	}
	if big := a.Words(65); len(big) != 65 || &big[0] == &grown[0] {
		t.Fatal("a request beyond the cap did not get memory of its own")
	}
	if a.KeptBytes() != 64*8 || &a.Words(64)[0] != &grown[0] {
		t.Fatal("a request beyond the cap replaced the kept memory")
	}
}
