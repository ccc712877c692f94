import { catalogues, en, type Catalogue, type MessageKey } from "./messages";

/** The catalogue of the browser's first supported language (English otherwise). */
export function pickCatalogue(languages: readonly string[]): { lang: string; messages: Catalogue } {
  for (const tag of languages) {
    const base = tag.toLowerCase().split("-")[0] ?? "";
    const found = catalogues[base];
    if (found) return { lang: base, messages: found };
  }
  return { lang: "en", messages: en };
}

const picked = pickCatalogue(typeof navigator === "undefined" ? [] : navigator.languages ?? []);
export const lang = picked.lang;

/** A message, with `{name}` placeholders filled from `vars`. */
export function t(key: MessageKey, vars: Record<string, string | number> = {}): string {
  const text = picked.messages[key] ?? en[key];
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? `{${name}}`));
}

/** "1 coin", "2 coins": `one` when the count is 1, else `other` (English and Spanish agree). */
export function plural(count: number, one: MessageKey, other: MessageKey): string {
  return t(count === 1 ? one : other, { count });
}
