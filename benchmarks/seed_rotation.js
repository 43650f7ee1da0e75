// The seed's "Secret Rotation" worker (../shared/seed/patterns.md, TypeScript there), as a plain
// JS module: what `make bench` holds workers/api.js's CPU per request against. Kept as written:
// one upstream URL, PRIMARY_KEY first, FALLBACK_KEY on any non-2xx when it is bound.

async function fetchWithAuth(url, key) {
  return fetch(url, { headers: { Authorization: `Bearer ${key}` } });
}

export default {
  async fetch(request, env) {
    let resp = await fetchWithAuth("https://api.example.com", await env.PRIMARY_KEY.get());

    // Fallback during rotation
    if (!resp.ok && env.FALLBACK_KEY) {
      resp = await fetchWithAuth("https://api.example.com", await env.FALLBACK_KEY.get());
    }

    return resp;
  },
};
