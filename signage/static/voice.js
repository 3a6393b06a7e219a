// Announcements: one queue, one <audio> element, so two calls never talk
// over each other; each call id is announced at most once per page.

const STALE_MS = 60000; // an announcement still queued after a minute is old news
const STUCK_MS = 30000; // an announcement that never ends does not block the queue

export class Voice {
  constructor(audio) {
    this.audio = audio;
    this.queue = [];
    this.current = null;
    this.taken = new Set(); // ids queued once: never again
    this.spoken = []; // ids whose audio started, in order
    this.failed = []; // ids whose audio could not be played
    this.guard = null;
    audio.addEventListener("ended", () => {
      if (this.current) this.next();
    });
    audio.addEventListener("error", () => this.fail());
  }

  // say queues a call's announcement unless its id was already queued.
  // allowed() is asked again when its turn comes (quiet hours may have
  // started, the voice may have been switched off); volume() is 0–100.
  say(call, allowed, volume) {
    if (!call || !call.audio || this.taken.has(call.id)) return;
    this.taken.add(call.id);
    this.queue.push({ call, allowed, volume, at: Date.now() });
    if (!this.current) this.play();
  }

  play() {
    while (this.queue.length > 0) {
      const item = this.queue.shift();
      if (Date.now() - item.at > STALE_MS || !item.allowed()) continue;
      this.current = item;
      const a = this.audio;
      a.volume = Math.max(0, Math.min(100, Number(item.volume()) || 0)) / 100;
      a.src = item.call.audio;
      clearTimeout(this.guard);
      this.guard = setTimeout(() => this.fail(), STUCK_MS);
      const p = a.play();
      const id = item.call.id;
      const started = () => {
        if (this.current === item && !this.spoken.includes(id)) this.spoken.push(id);
      };
      if (p && p.then) {
        p.then(started, (err) => {
          if (this.current === item) {
            console.warn("avanti: announcement not played", id, err && err.name);
            this.fail();
          }
        });
      } else {
        started();
      }
      return;
    }
    this.current = null;
  }

  next() {
    clearTimeout(this.guard);
    this.current = null;
    this.play();
  }

  fail() {
    if (!this.current) return;
    this.failed.push(this.current.call.id);
    this.audio.pause();
    this.next();
  }

  // mute stops what is playing and empties the queue (voice switched off).
  mute() {
    this.queue = [];
    if (this.current) {
      this.audio.pause();
      this.next();
    }
  }
}
