// Pages of a list for big touch buttons: the totem shows a few items at a
// time with "Indietro"/"Avanti" and "pagina 2 di 3".

// page is the index-th page (clamped) of items, size per page.
export function page(items, size, index) {
  const count = Math.max(1, Math.ceil(items.length / size));
  const at = Math.min(Math.max(0, index | 0), count - 1);
  return { items: items.slice(at * size, at * size + size), index: at, count, first: at === 0, last: at === count - 1 };
}

// pageOf is the page that holds the item at position i.
export function pageOf(i, size) {
  return Math.max(0, Math.floor(i / size));
}
