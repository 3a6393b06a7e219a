// The WebSocket client of the appliance's realtime hub (wire format in
// appliance/realtime/realtime.go, messages in docs/realtime.md): snapshot
// then events with a seq per channel, resync on a gap or a new epoch, a
// ping every 5 s, "offline" after 12 s of silence, reconnection with
// exponential backoff and jitter. The one copy: appliance/webpage serves it
// among the assets of every face (signage, kiosk, console) as ./live.js.

const PING_MS = 5000;
const SILENCE_MS = 12000;
const BACKOFF_MAX_S = 30;
const RESYNC_RETRY_MS = 10000;

export class Live {
  // url() is called before every connection attempt.
  // onSnapshot(msg), onEvent(msg, {gap}) and onState("online"|"offline") are
  // the callbacks; onEvent gets events in order, each at most once.
  constructor({ url, onSnapshot, onEvent, onState }) {
    this.url = url;
    this.onSnapshot = onSnapshot;
    this.onEvent = onEvent;
    this.onState = onState || (() => {});
    this.ws = null;
    this.epoch = null;
    this.channel = null; // the primary channel, first in the snapshot
    this.seqs = {};
    this.failures = 0;
    this.lastMessage = 0;
    this.resyncAsked = 0;
    this.timers = [];
    this.retry = null;
    this.state = "connecting";
  }

  start() {
    this.connect();
  }

  // seq is the primary channel's seq: what the display reports it shows.
  get seq() {
    return this.channel ? this.seqs[this.channel] || 0 : 0;
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  connect() {
    this.retry = null;
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (err) {
      console.warn("avanti: websocket", err);
      this.reconnect();
      return;
    }
    this.ws = ws;
    this.lastMessage = Date.now();
    this.timers.push(setInterval(() => this.watch(), 1000));
    ws.onopen = () => {
      this.lastMessage = Date.now();
      this.timers.push(setInterval(() => this.send({ type: "ping" }), PING_MS));
    };
    ws.onmessage = (e) => {
      this.lastMessage = Date.now();
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      this.receive(msg);
    };
    ws.onclose = () => {
      if (this.ws === ws) this.reconnect();
    };
  }

  // watch notices a server that went silent without closing the connection
  // (power cut, cable pulled), or a handshake that never completes: the
  // socket may take minutes to say so.
  watch() {
    if (Date.now() - this.lastMessage > SILENCE_MS) {
      this.reconnect();
    }
  }

  // reconnect drops the connection, shows "offline" and tries again after
  // 1, 2, 4 … 30 s, each ±30 %.
  reconnect() {
    const ws = this.ws;
    this.ws = null;
    this.timers.forEach(clearInterval);
    this.timers = [];
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        // already closed
      }
    }
    this.setState("offline");
    if (this.retry) return;
    const base = Math.min(BACKOFF_MAX_S, 2 ** this.failures);
    this.failures++;
    const delay = base * 1000 * (0.7 + Math.random() * 0.6);
    this.retry = setTimeout(() => this.connect(), delay);
  }

  // resubscribe connects again at once, without showing "offline": the
  // server chooses a client's channels when it connects, so a display told
  // to show other rooms needs a new connection.
  resubscribe() {
    const ws = this.ws;
    this.ws = null;
    this.timers.forEach(clearInterval);
    this.timers = [];
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        // already closed
      }
    }
    if (this.retry) {
      clearTimeout(this.retry);
      this.retry = null;
    }
    this.connect();
  }

  setState(s) {
    if (this.state !== s) {
      this.state = s;
      this.onState(s);
    }
  }

  receive(msg) {
    switch (msg.type) {
      case "pong":
        return;
      case "snapshot":
        this.epoch = msg.epoch;
        this.channel = msg.channel || null;
        this.seqs = Object.assign({}, msg.seqs || {});
        if (msg.channel && this.seqs[msg.channel] === undefined) this.seqs[msg.channel] = msg.seq || 0;
        this.resyncAsked = 0;
        // Back to the short backoff only once the server has really
        // answered: one that accepts and then fails is not hammered.
        this.failures = 0;
        this.setState("online");
        this.onSnapshot(msg);
        return;
    }
    if (this.epoch === null) return; // events before the first snapshot: it will contain them
    const last = this.seqs[msg.channel];
    let gap = false;
    if (msg.epoch !== this.epoch || last === undefined) {
      gap = true;
    } else if (msg.seq <= last) {
      return; // already applied
    } else if (msg.seq !== last + 1) {
      gap = true;
    }
    if (msg.epoch === this.epoch && msg.channel) this.seqs[msg.channel] = msg.seq;
    if (gap) this.resync();
    this.onEvent(msg, { gap });
  }

  // resync asks for a snapshot, once until it comes (or 10 s went by).
  resync() {
    const now = Date.now();
    if (this.resyncAsked && now - this.resyncAsked < RESYNC_RETRY_MS) return;
    if (this.send({ type: "snapshot" })) this.resyncAsked = now;
  }
}
