/** Accept-Encoding (RFC 9110 §12.5.3): may a response use this content coding? */

export function acceptsEncoding(header: string | undefined, coding: string): boolean {
  if (header === undefined) return false;
  let named: number | null = null;
  let star: number | null = null;
  for (const element of header.split(",")) {
    const [token, ...params] = element.split(";").map((s) => s.trim());
    if (!token) continue;
    let q = 1;
    for (const p of params) {
      const m = /^q\s*=\s*([0-9.]+)$/i.exec(p);
      if (m) q = Number(m[1]);
    }
    const name = token.toLowerCase();
    if (name === coding) named = q;
    else if (name === "*") star = q;
  }
  const q = named ?? star ?? 0;
  return q > 0;
}
