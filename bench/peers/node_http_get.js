// node_http_get.js - the Node.js peer of bench/netmcu/http_client.lua:
//   node node_http_get.js PORT TOTAL INFLIGHT
// TOTAL http.get requests to http://127.0.0.1:PORT/, INFLIGHT at a time,
// each on its own connection (no keep-alive agent, Connection: close), the
// body read whole; prints the same line as the netmcu client.
'use strict';
const http = require('http');
const fs = require('fs');
const [port, total, inflight] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

function cpuNs() {
  let t = 0;
  for (const task of fs.readdirSync('/proc/self/task')) {
    t += Number(fs.readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ')[0]);
  }
  return t;
}

let started = 0, finished = 0, failures = 0;
const c0 = cpuNs(), t0 = process.hrtime.bigint();
function one() {
  started++;
  http.get({ host: '127.0.0.1', port, path: '/', agent, headers: { Connection: 'close' } }, (res) => {
    const parts = [];
    res.on('data', (d) => parts.push(d));
    res.on('end', () => {
      if (res.statusCode !== 200 || Buffer.concat(parts).toString() !== 'hello\n') failures++;
      done();
    });
  }).on('error', () => { failures++; done(); });
}
function done() {
  finished++;
  if (started < total) {
    one();
  } else if (finished === total) {
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = (cpuNs() - c0) / total / 1e3;
    console.log(`node ${total} ${inflight} ${secs.toFixed(3)} ${(total / secs).toFixed(0)} ${cpu.toFixed(1)} ${failures}`);
  }
}
for (let i = 0; i < inflight; i++) one();
