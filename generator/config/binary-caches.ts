/** The `binaryCaches` list of nixgen.config.ts: each cache's URL and public key, checked. */
import { BinaryCacheError, normalizeCacheUrl } from "../binary-cache/index.js";
import { NarInfoError, parsePublicKey } from "../binary-cache/narinfo.js";
import type { Property } from "./literal.js";
import type { Reader } from "./reader.js";
import type { ResolvedBinaryCache } from "./resolved.js";

const CACHE_KEYS = ["url", "publicKey"] as const;

/** The caches, in order; problems (missing keys, bad URLs or keys, repeats) are reported. */
export function readBinaryCaches(r: Reader, prop: Property | undefined): ResolvedBinaryCache[] {
  if (prop === undefined) return [];
  const what = "binaryCaches";
  if (prop.value.kind !== "array") {
    if (prop.value.kind !== "opaque") {
      r.error(prop.value.pos, `the config: "${what}" must be an array of { url, publicKey }`, 'e.g. binaryCaches: [{ url: "https://cache.nixos.org", publicKey: "cache.nixos.org-1:..." }]');
    }
    return [];
  }
  const caches: ResolvedBinaryCache[] = [];
  prop.value.items.forEach((item, i) => {
    const where = `${what}[${i}]`;
    const props = r.object(item, where, CACHE_KEYS);
    if (props === null) return;
    const url = r.text(props.get("url"), where);
    const publicKey = r.text(props.get("publicKey"), where);
    for (const key of CACHE_KEYS) {
      if (!props.has(key)) r.error(item.pos, `${where}: "${key}" is missing`, "each cache needs its url and the publicKey its narinfos are signed with");
    }
    let normalized: string | null = null;
    if (url !== null) {
      try {
        normalized = normalizeCacheUrl(url);
      } catch (e) {
        if (!(e instanceof BinaryCacheError)) throw e;
        r.error(props.get("url")!.value.pos, `${where}: ${e.message}`);
      }
    }
    let keyOk = false;
    if (publicKey !== null) {
      try {
        parsePublicKey(publicKey);
        keyOk = true;
      } catch (e) {
        if (!(e instanceof NarInfoError)) throw e;
        r.error(props.get("publicKey")!.value.pos, `${where}: ${e.message}`);
      }
    }
    if (normalized !== null && caches.some((c) => c.url === normalized)) {
      r.error(props.get("url")!.value.pos, `${where}: the cache ${normalized} is listed twice`, "keep one of them");
      return;
    }
    if (normalized !== null && keyOk && publicKey !== null) caches.push({ url: normalized, publicKey });
  });
  return caches;
}
