/**
 * A real HTTP(S) server on 127.0.0.1 (never another address) for download tests.
 * The handler gets how many times its path has been requested, so a test can
 * script "fail once, then succeed"; `hits` lets tests assert request counts.
 * With `{ https: true }` it serves TLS with a self-signed certificate made on
 * the spot: a test file using it sets NODE_TLS_REJECT_UNAUTHORIZED=0 for itself.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';

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
export async function startTestServer(handler: TestHandler, options: { https?: boolean } = {}): Promise<TestServer> {
  const counts = new Map<string, number>();
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = req.url ?? '/';
    const nth = (counts.get(path) ?? 0) + 1;
    counts.set(path, nth);
    handler(req, res, nth);
  };
  let server: http.Server;
  if (options.https) {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], { keySize: 2048, extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }] });
    server = https.createServer({ key: pems.private, cert: pems.cert }, listener);
  } else server = http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const scheme = options.https ? 'https' : 'http';
  return {
    url: (path) => `${scheme}://127.0.0.1:${port}${path}`,
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
