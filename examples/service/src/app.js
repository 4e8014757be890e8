/**
 * The service's HTTP handler: `/health` says whether it can serve (its greetings data loaded),
 * `/hello?name=Ada&lang=fr` greets. Pure apart from the request: main.js gives it what it needs.
 */
export function createApp({ version, release, greetings }) {
  const problem = checkGreetings(greetings);
  return (request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (request.method !== 'GET') return send(response, 405, { error: 'GET only' });
    if (url.pathname === '/health') {
      if (problem)
        return send(response, 503, { status: 'unhealthy', reason: problem, version, release });
      return send(response, 200, { status: 'ok', version, release });
    }
    if (url.pathname === '/hello') {
      if (problem) return send(response, 503, { error: problem });
      const lang = url.searchParams.get('lang') ?? 'en';
      const greeting = greetings[lang];
      if (!greeting) return send(response, 404, { error: `no greeting in "${lang}"` });
      const name = (url.searchParams.get('name') ?? 'world').slice(0, 100);
      return send(response, 200, { message: `${greeting}, ${name}!`, version });
    }
    return send(response, 404, { error: `no route ${url.pathname}` });
  };
}

/** Why the greetings cannot be served, or undefined: it must map languages to non-empty text. */
export function checkGreetings(greetings) {
  if (!greetings || typeof greetings !== 'object' || Array.isArray(greetings)) {
    return 'greetings data is missing or not an object';
  }
  const entries = Object.entries(greetings);
  if (entries.length === 0) return 'greetings data is empty';
  const bad = entries.find(([, text]) => typeof text !== 'string' || text.length === 0);
  return bad ? `greeting "${bad[0]}" is not a non-empty string` : undefined;
}

function send(response, status, body) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(`${JSON.stringify(body)}\n`);
}
