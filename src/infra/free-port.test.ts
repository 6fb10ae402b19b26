/**
 * freePort(): ports a server can bind, distinct within a process, and on Linux below the kernel's ephemeral
 * range, where no outgoing connection can take one between the check and the server's bind.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { freePort } from './free-port.ts';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

test('freePort: bindable, distinct, and below the ephemeral range on Linux', async () => {
  const ports = [];
  for (let i = 0; i < 20; i++) ports.push(await freePort());
  assert.equal(new Set(ports).size, ports.length, 'no port handed out twice');
  let rangeStart: number | null = null;
  try {
    rangeStart = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
  } catch {
    // not Linux: the kernel's bind(0) answers, nothing more to check about where
  }
  if (rangeStart !== null && rangeStart > 11_000) {
    for (const port of ports)
      assert.ok(port >= 10_000 && port < rangeStart, `${port} is below ${rangeStart}`);
  }
  const servers = await Promise.all(ports.slice(0, 5).map(listen));
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

test('freePort skips a port a server already holds', async () => {
  const held = await listen(await freePort());
  const address = held.address();
  assert.ok(address !== null && typeof address === 'object');
  for (let i = 0; i < 50; i++) assert.notEqual(await freePort(), address.port);
  await new Promise((resolve) => held.close(resolve));
});
