package app

import (
	"strings"
	"testing"
)

// Each fact turns exactly its item on: removing one `if` from
// productionChecklist fails its row (negative control).
func TestProductionChecklistItems(t *testing.T) {
	allMet := checklistFacts{Production: true, HTTPSBaseURL: true}
	if got := productionChecklist(allMet); len(got) != 0 {
		t.Fatalf("a production configuration reports %v", got)
	}
	cases := []struct {
		name   string
		change func(*checklistFacts)
		want   string
	}{
		{"dev KEK", func(f *checklistFacts) { f.DevKEK = true }, "MANA_AUTH_KEK"},
		{"no SMTP", func(f *checklistFacts) { f.NoSMTP = true }, "SMTP_HOST"},
		{"SQLite", func(f *checklistFacts) { f.SQLite = true }, "DATABASE_URL"},
		{"default service key", func(f *checklistFacts) { f.DefaultServiceKey = true }, "SERVICE_KEY"},
		{"rate limits off", func(f *checklistFacts) { f.RateLimitsOff = true }, "MANA_RATE_LIMITS"},
		{"http base URL", func(f *checklistFacts) { f.HTTPSBaseURL = false }, "BASE_URL"},
		{"not production", func(f *checklistFacts) { f.Production = false }, "NODE_ENV"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := allMet
			c.change(&f)
			got := productionChecklist(f)
			if len(got) != 1 || !strings.HasPrefix(got[0], c.want) {
				t.Fatalf("got %q, want one item starting with %s", got, c.want)
			}
		})
	}
}

func TestProductionChecklistDevDefaultsListEverything(t *testing.T) {
	got := productionChecklist(checklistFacts{DevKEK: true, NoSMTP: true, DefaultServiceKey: true})
	want := []string{"MANA_AUTH_KEK", "SMTP_HOST", "SERVICE_KEY", "BASE_URL", "NODE_ENV"}
	if len(got) != len(want) {
		t.Fatalf("got %d items %q, want %v", len(got), got, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("item %d = %q, want it about %s", i, got[i], w)
		}
	}
}

func TestStartupBlockShowsWhereThingsAre(t *testing.T) {
	b := startupBlock{URL: "http://localhost:3001", Data: "PostgreSQL postgres://u:xxxxx@h/db", Mail: "captured locally in /d/mail",
		Unmet: []string{"first item", "second item"}}.String()
	for _, want := range []string{"http://localhost:3001", "PostgreSQL postgres://u:xxxxx@h/db", "captured locally in /d/mail",
		"not met:", "- first item", "- second item"} {
		if !strings.Contains(b, want) {
			t.Errorf("block lacks %q:\n%s", want, b)
		}
	}
	if all := (startupBlock{URL: "u", Data: "d", Mail: "m"}).String(); !strings.Contains(all, "all met") {
		t.Errorf("empty checklist not reported as met:\n%s", all)
	}
}

func TestRedactURLHidesPassword(t *testing.T) {
	got := redactURL("postgres://mana:s3cret@db:5432/mana?sslmode=disable")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "db:5432/mana") {
		t.Fatalf("redactURL = %q", got)
	}
}
