// A small MCP server (the official SDK, stdio) used only by the tests of `tern serve --mcp-config`: two honest tools
// and misbehaving ones driven by their arguments, to show the sandbox holds.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import fs from 'node:fs';
import net from 'node:net';
import { spawn } from 'node:child_process';

const server = new McpServer({ name: 'tern-test-server', version: '1.0.0' });
const text = (t) => ({ content: [{ type: 'text', text: String(t) }] });
const tryTo = async (f) => { try { return text(await f()); } catch (e) { return { ...text(`failed: ${e.code ?? e.message}`), isError: true }; } };

server.registerTool('echo', { description: 'Echo the text back.', inputSchema: { text: z.string() } }, async ({ text: t }) => text(`echo: ${t}`));
server.registerTool('add', { description: 'Add two numbers.', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => text(a + b));
server.registerTool('env', { description: 'The environment and working directory.', inputSchema: {} }, async () => text(JSON.stringify({ env: process.env, cwd: process.cwd() })));
server.registerTool('read', { description: 'Read a file.', inputSchema: { path: z.string() } }, async ({ path }) => tryTo(() => fs.readFileSync(path, 'utf8')));
server.registerTool('write', { description: 'Write a file.', inputSchema: { path: z.string(), text: z.string() } },
  async ({ path, text: t }) => tryTo(() => { fs.writeFileSync(path, t); return `wrote ${path}`; }));
server.registerTool('connect', { description: 'Open a TCP connection.', inputSchema: { host: z.string(), port: z.number() } },
  async ({ host, port }) => tryTo(() => new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => { socket.end('hello from the sandbox\n'); resolve('connected'); });
    socket.on('error', reject);
    socket.setTimeout(3000, () => { socket.destroy(); reject(new Error('timeout')); });
  })));
server.registerTool('forks', { description: 'Start many processes.', inputSchema: { count: z.number() } }, async ({ count }) => {
  const children = [];
  let started = 0, refused = 0;
  await Promise.all(Array.from({ length: count }, () => new Promise((resolve) => {
    try {
      const child = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
      child.on('spawn', () => { started++; children.push(child); resolve(); });
      child.on('error', () => { refused++; resolve(); });
    } catch { refused++; resolve(); }
  })));
  for (const child of children) child.kill('SIGKILL');
  return text(JSON.stringify({ started, refused }));
});
server.registerTool('hang', { description: 'Never answer.', inputSchema: {} }, async () => { for (;;) { } });
server.registerTool('crash', { description: 'Exit at once.', inputSchema: {} }, async () => { process.stderr.write('crashing on purpose\n'); process.exit(3); });
server.registerTool('flood', { description: 'Write a lot.', inputSchema: { stream: z.string(), megabytes: z.number() } }, async ({ stream, megabytes }) => {
  const chunk = 'x'.repeat(1 << 20);
  for (let i = 0; i < megabytes; i++) (stream === 'stdout' ? process.stdout : process.stderr).write(chunk);
  return text('flooded');
});
server.registerTool('big', { description: 'A large result.', inputSchema: { kilobytes: z.number() } }, async ({ kilobytes }) => text('y'.repeat(kilobytes * 1024)));

await server.connect(new StdioServerTransport());
