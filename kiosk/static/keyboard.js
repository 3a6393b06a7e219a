// The totem's on-screen keyboard: big keys for names (letters, accents,
// apostrophe) and for phone numbers (digits). It types into whichever of
// its fields is active; there is no hardware keyboard on a totem.

export const LAYOUTS = {
  letters: ["QWERTYUIOP", "ASDFGHJKL'", "ZXCVBNM-", "ÀÈÉÌÒÙ"],
  digits: ["123", "456", "789", "+0"],
};

export const SPACE = "space";
export const DELETE = "delete";

// applyKey is the value after pressing key ("A", SPACE, DELETE) on value,
// at most max characters long.
export function applyKey(value, key, max = 60) {
  const v = String(value || "");
  if (key === DELETE) return Array.from(v).slice(0, -1).join("");
  const ch = key === SPACE ? " " : key;
  if (ch === " " && (v === "" || v.endsWith(" "))) return v; // no leading or double spaces
  if (Array.from(v).length >= max) return v;
  return v + ch;
}

// Keyboard draws the keys into box and sends presses to onKey(key).
export class Keyboard {
  constructor(box, onKey, label) {
    this.box = box;
    this.onKey = onKey;
    this.label = label;
    this.layout = "";
    box.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-key]");
      if (b) this.onKey(b.dataset.key);
    });
  }

  // show draws layout ("letters" | "digits"); words names the space and
  // delete keys in the page's language.
  show(layout, words) {
    this.layout = layout;
    this.box.dataset.layout = layout;
    const rows = LAYOUTS[layout].map((r) => {
      const row = document.createElement("div");
      row.className = "kbd-row";
      for (const ch of r) row.append(key(ch, ch));
      return row;
    });
    const last = document.createElement("div");
    last.className = "kbd-row";
    if (layout === "letters") last.append(key(SPACE, words.space, "wide"));
    last.append(key(DELETE, words.delete, "wide"));
    rows.push(last);
    this.box.replaceChildren(...rows);
    this.box.setAttribute("aria-label", this.label());
  }
}

function key(k, text, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "key" + (cls ? " " + cls : "");
  b.dataset.key = k;
  b.textContent = text;
  return b;
}
