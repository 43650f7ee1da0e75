// A local audit sink worker (for tests and the rehearsal), reached from other workers
// through a service binding named AUDIT. Stores each event POSTed to it in the KV
// namespace EVENTS; GET /events returns them as a JSON array (oldest first).

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === "POST") {
      const body = await request.text();
      const id = `${Date.now().toString().padStart(15, "0")}:${crypto.randomUUID()}`;
      await env.EVENTS.put(id, body);
      return new Response(null, { status: 204 });
    }
    if (url.pathname === "/events") {
      const out = [];
      let cursor;
      do {
        const page = await env.EVENTS.list({ cursor });
        for (const k of page.keys) out.push(await env.EVENTS.get(k.name));
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
      return new Response(`[${out.join(",")}]`, { headers: { "content-type": "application/json" } });
    }
    return new Response(null, { status: 404 });
  },
};
