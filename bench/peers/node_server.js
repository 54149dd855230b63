// node_server.js - the Node.js peer, only the `net` and `dgram` modules:
//   node node_server.js http|echo|udp PORT
'use strict';
const net = require('net');
const dgram = require('dgram');
const [mode, portArg] = process.argv.slice(2);
const port = Number(portArg);

const KEEP = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n';
const CLOSE = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n' +
  'Connection: close\r\n\r\nhello\n';
const BAD = 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
const REQ_LINE = /^[A-Z]+ \S+ HTTP\/1\.(\d)\r\n/;
const CONN = /\r\nconnection:[ \t]*([\w-]+)/i;

if (mode === 'udp') {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  sock.bind(port, '127.0.0.1');
} else if (mode === 'echo') {
  net.createServer((c) => {
    c.setNoDelay(true);
    c.on('data', (d) => c.write(d));
    c.on('error', () => {});
  }).listen({ port, host: '127.0.0.1', backlog: 4096 });
} else {
  net.createServer((c) => {
    c.setNoDelay(true);
    c.setEncoding('latin1');
    let buf = '';
    c.on('error', () => {});
    c.on('data', (data) => {
      if (buf === null) return;
      buf = buf === '' ? data : buf + data;
      for (;;) {
        const e = buf.indexOf('\r\n\r\n');
        if (e < 0) return;
        const m = REQ_LINE.exec(buf);
        if (!m) { c.end(BAD); buf = null; return; }
        let head = buf;
        if (e + 4 === buf.length) buf = '';
        else { head = buf.slice(0, e + 4); buf = buf.slice(e + 4); }
        const cm = CONN.exec(head);
        const conn = cm ? cm[1].toLowerCase() : undefined;
        if ((m[1] === '1' && conn !== 'close') || conn === 'keep-alive') {
          c.write(KEEP, 'latin1');
        } else {
          c.end(CLOSE, 'latin1');
          buf = null;
          return;
        }
      }
    });
  }).listen({ port, host: '127.0.0.1', backlog: 4096 });
}
