package api_test

import (
	"fmt"
	"testing"

	"avanti/appliance/testenv"
)

// The back office names agendas ("Orario invernale") to find them again:
// the name given when saving is the one listed and the one a change keeps.
func TestAgendaKeepsItsName(t *testing.T) {
	env := testenv.NewServer(t, testenv.Options{})
	bo := signIn(t, env)[backoffice]
	path := fmt.Sprintf("/api/v1/services/%d/agendas", env.Demo.Services["T"])
	body := `{"name":"Orario invernale","valid_from":"2027-01-01","valid_to":"2027-03-31",
		"ranges":[{"weekday":2,"start":"09:00","end":"10:00","slot_minutes":20,"places":1}]}`
	var saved struct {
		Agenda struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"agenda"`
	}
	if st := bo.JSON("POST", path, body, &saved); st != 201 || saved.Agenda.Name != "Orario invernale" {
		t.Fatalf("POST agenda: %d, name %q; want 201 and the name back", st, saved.Agenda.Name)
	}
	renamed := `{"name":"Orario invernale 2027","valid_from":"2027-01-01","valid_to":"2027-03-31",
		"ranges":[{"weekday":2,"start":"09:00","end":"10:00","slot_minutes":20,"places":1}]}`
	if st := bo.JSON("PUT", fmt.Sprintf("%s/%d", path, saved.Agenda.ID), renamed, nil); st != 200 {
		t.Fatalf("PUT agenda: %d", st)
	}
	var list struct {
		Agendas []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"agendas"`
	}
	if st := bo.JSON("GET", path, nil, &list); st != 200 {
		t.Fatalf("GET agendas: %d", st)
	}
	for _, a := range list.Agendas {
		if a.ID == saved.Agenda.ID {
			if a.Name != "Orario invernale 2027" {
				t.Fatalf("listed agenda name %q, want the name it was saved with", a.Name)
			}
			return
		}
	}
	t.Fatalf("agenda %d not listed: %+v", saved.Agenda.ID, list.Agendas)
}
