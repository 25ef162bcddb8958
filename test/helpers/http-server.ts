/**
 * A real HTTP server on 127.0.0.1 (never another address) for download tests.
 * The handler gets how many times its path has been requested, so a test can
 * script "fail once, then succeed"; `hits` lets tests assert request counts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type TestHandler = (req: http.IncomingMessage, res: http.ServerResponse, nth: number) => void;

export interface TestServer {
  /** `http://127.0.0.1:<port><path>` */
  url(path: string): string;
  /** Requests received for `path`, or for all paths when omitted. */
  hits(path?: string): number;
  close(): Promise<void>;
}

/**
 * @example
 *   const server = await startTestServer((req, res) => res.end('hi'));
 *   await (await fetch(server.url('/a'))).text(); // -> 'hi'; server.hits('/a') -> 1
 */
export async function startTestServer(handler: TestHandler): Promise<TestServer> {
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const nth = (counts.get(path) ?? 0) + 1;
    counts.set(path, nth);
    handler(req, res, nth);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    hits: (path) => (path === undefined ? [...counts.values()].reduce((a, b) => a + b, 0) : (counts.get(path) ?? 0)),
    close: () =>
      new Promise<void>((resolve) => {
        // Stalled responses in timeout tests would otherwise keep close() waiting forever.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sends `body` with a Content-Length. */
export function sendBody(res: http.ServerResponse, body: Buffer): void {
  res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
  res.end(body);
}

/** Promises the full body but sends only the first half, then kills the socket. */
export function sendHalfThenCut(res: http.ServerResponse, body: Buffer): void {
  res.writeHead(200, { 'content-length': body.length });
  res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
}

/** Promises the full body, sends the first half, then goes silent. */
export function sendHalfThenStall(res: http.ServerResponse, body: Buffer): void {
  res.writeHead(200, { 'content-length': body.length });
  res.write(body.subarray(0, body.length >> 1));
}
