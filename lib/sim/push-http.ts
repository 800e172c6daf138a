/** The simulated push device's HTTP exchange: one request, the whole (small) reply, a timeout. */
import * as http from 'http';

export interface PushHttpReply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

export function pushRequest(
  url: URL,
  method: 'GET' | 'POST',
  body: string | null,
  agent: http.Agent,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<PushHttpReply> {
  return new Promise((resolve, reject) => {
    const data = body === null ? null : Buffer.from(body, 'utf8');
    const req = http.request(
      url,
      {
        method,
        agent,
        signal,
        // What firmware sends: plain text, a fixed user agent.
        headers: data
          ? { 'Content-Type': 'text/plain', 'Content-Length': data.length, 'User-Agent': 'iClock Proxy/1.09' }
          : { 'User-Agent': 'iClock Proxy/1.09' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 1024 * 1024) chunks.push(c);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no reply from ${url.host} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data ?? undefined);
  });
}
