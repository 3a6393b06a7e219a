package signage_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"avanti/appliance/browsertest"
	"avanti/appliance/voice"
	"avanti/signage"
)

// moduleTab is a tab on the assets alone (no appliance), where a test can
// import the page's modules and call them.
func moduleTab(t *testing.T) *tab {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/display/", signage.Handler())
	// Short announcements for the voice queue: 0.4 s of silence.
	wav := voice.EncodeWAV(voice.Audio{Rate: 8000, Samples: make([]int16, 3200)})
	mux.HandleFunc("/beep.wav", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(wav))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b := newTab(t, 800, 600)
	b.Open(srv.URL + "/display/a/" + signage.Version() + "/display.css")
	return b
}

func TestTimeWindowsOfQuietHoursAndPlaylist(t *testing.T) {
	b := moduleTab(t)
	// Monday 23 November 2026, local time of the screen.
	cases := []struct {
		name string
		expr string
		want bool
	}{
		{"inside quiet hours", `m.quiet(at(12, 30), [{from: "12:30", to: "14:00"}])`, true},
		{"quiet hours end", `m.quiet(at(14, 0), [{from: "12:30", to: "14:00"}])`, false},
		{"before quiet hours", `m.quiet(at(12, 29), [{from: "12:30", to: "14:00"}])`, false},
		{"no quiet hours", `m.quiet(at(3, 0), [])`, false},
		{"night window, late", `m.inWindow(at(23, 0), "22:00", "06:00")`, true},
		{"night window, early", `m.inWindow(at(5, 59), "22:00", "06:00")`, true},
		{"night window, morning", `m.inWindow(at(6, 0), "22:00", "06:00")`, false},
		{"all day", `m.inWindow(at(0, 0), "", "")`, true},
		{"from only", `m.inWindow(at(7, 0), "08:00", "")`, false},
		{"weekday item on Monday", `m.playing({days: [1, 2, 3, 4, 5], from: "08:00", to: "13:00"}, at(9, 0))`, true},
		{"weekday item after hours", `m.playing({days: [1, 2, 3, 4, 5], from: "08:00", to: "13:00"}, at(13, 0))`, false},
		{"Sunday item on Monday", `m.playing({days: [7], from: "", to: ""}, at(9, 0))`, false},
		{"every day", `m.playing({days: [], from: "", to: ""}, at(9, 0))`, true},
	}
	for _, c := range cases {
		expr := `import("./schedule.js").then(m => { const at = (h, min) => new Date(2026, 10, 23, h, min); return ` + c.expr + ` })`
		if got := browsertest.EvalAwait[bool](b, expr); got != c.want {
			t.Errorf("%s: %s = %v, want %v", c.name, c.expr, got, c.want)
		}
	}
}

// The client keeps one seq per channel: in order → applied, again → ignored,
// a gap or another epoch → applied (a call is news) and a snapshot asked for.
func TestLiveClientSeqPerChannel(t *testing.T) {
	b := moduleTab(t)
	got := browsertest.EvalAwait[[]string](b, `import("./live.js").then(({Live}) => {
		const log = [];
		const l = new Live({url: () => "", onSnapshot: m => log.push("snapshot"), onEvent: (m, {gap}) => log.push(m.channel + ":" + m.seq + (gap ? " gap" : ""))});
		l.send = m => { log.push("send " + m.type); return true; };
		l.receive({type: "snapshot", channel: "display:1", epoch: "e1", seq: 3, seqs: {"display:1": 3, "room:1": 10}});
		l.receive({type: "call", channel: "room:1", epoch: "e1", seq: 11});
		l.receive({type: "call", channel: "room:1", epoch: "e1", seq: 11});
		l.receive({type: "config", channel: "display:1", epoch: "e1", seq: 4});
		l.receive({type: "call", channel: "room:1", epoch: "e1", seq: 13});
		l.receive({type: "call", channel: "room:1", epoch: "e1", seq: 14});
		l.receive({type: "pong"});
		l.receive({type: "snapshot", channel: "display:1", epoch: "e2", seq: 0, seqs: {"display:1": 0, "room:1": 0}});
		l.receive({type: "call", channel: "room:1", epoch: "e1", seq: 1});
		log.push("seq " + l.seq);
		return log;
	})`)
	want := []string{"snapshot", "room:1:11", "display:1:4", "send snapshot", "room:1:13 gap", "room:1:14",
		"snapshot", "send snapshot", "room:1:1 gap", "seq 0"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// Announcements queue: each plays to its end before the next starts, a call
// id is announced once however often it comes, and nothing is said while
// the voice is not allowed (quiet hours, switched off).
func TestAnnouncementsQueueOncePerCall(t *testing.T) {
	b := moduleTab(t)
	got := browsertest.EvalAwait[[]string](b, `import("./voice.js").then(({Voice}) => new Promise(done => {
		const a = new Audio();
		const log = [];
		a.addEventListener("playing", () => log.push("start " + new URL(a.src).search));
		a.addEventListener("ended", () => log.push("end " + new URL(a.src).search));
		const v = new Voice(a);
		const yes = () => true, no = () => false, vol = () => 50;
		v.say({id: 1, audio: "/beep.wav?1"}, yes, vol);
		v.say({id: 2, audio: "/beep.wav?2"}, yes, vol);
		v.say({id: 1, audio: "/beep.wav?1"}, yes, vol);
		v.say({id: 3, audio: "/beep.wav?3"}, no, vol);
		v.say({id: 4, audio: "/beep.wav?4"}, yes, vol);
		const wait = () => v.current || v.queue.length ? setTimeout(wait, 50) :
			done([...log, "spoken " + v.spoken.join(","), "failed " + v.failed.join(","), "volume " + a.volume]);
		setTimeout(wait, 50);
	}))`)
	want := []string{"start ?1", "end ?1", "start ?2", "end ?2", "start ?4", "end ?4", "spoken 1,2,4", "failed ", "volume 0.5"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
